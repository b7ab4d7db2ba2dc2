package dev.cmwq.workqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@link CpuMask} in the kernel's two text forms, and the validation of {@link WorkqueueAttrs}. */
@Timeout(60)
class CpuMaskTest {

    private static int[] range(int from, int toInclusive) {
        return IntStream.rangeClosed(from, toInclusive).toArray();
    }

    @Test
    void parsesHexForm() {
        assertThat(CpuMask.parse("3").cpus()).containsExactly(0, 1);
        assertThat(CpuMask.parse("0x5").cpus()).containsExactly(0, 2);
        assertThat(CpuMask.parse("0X5").cpus()).containsExactly(0, 2);
        assertThat(CpuMask.parse("f0").cpus()).containsExactly(4, 5, 6, 7);
        assertThat(CpuMask.parse("ff,ffffffff").cpus()).containsExactly(range(0, 39));
        assertThat(CpuMask.parse("1,00000000").cpus()).containsExactly(32);
        assertThat(CpuMask.parseHex("ff,ffffffff")).isEqualTo(CpuMask.all(40));
        // parseHex takes a lone number as hex even where parse() would too
        assertThat(CpuMask.parseHex("10").cpus()).containsExactly(4);
    }

    @Test
    void parsesListForm() {
        assertThat(CpuMask.parse("0-3,5").cpus()).containsExactly(0, 1, 2, 3, 5);
        assertThat(CpuMask.parse("1,3").cpus()).containsExactly(1, 3);
        assertThat(CpuMask.parseList("1,3").cpus()).containsExactly(1, 3);
        assertThat(CpuMask.parseList("7").cpus()).containsExactly(7);
        assertThat(CpuMask.parseList("0-39").cpus()).containsExactly(range(0, 39));
        assertThat(CpuMask.parseList(" 2 - 4 , 8 ").cpus()).containsExactly(2, 3, 4, 8);
    }

    @Test
    void formatsBothForms() {
        assertThat(CpuMask.of(0, 1, 2, 3, 5).toList()).isEqualTo("0-3,5");
        assertThat(CpuMask.of(1, 3).toList()).isEqualTo("1,3");
        assertThat(CpuMask.of().toList()).isEmpty();
        assertThat(CpuMask.all(40).toHex()).isEqualTo("ff,ffffffff");
        assertThat(CpuMask.of(0, 1).toHex()).isEqualTo("3");
        assertThat(CpuMask.of(32).toHex()).isEqualTo("1,00000000");
        assertThat(CpuMask.of(0, 33).toHex()).isEqualTo("2,00000001");
        assertThat(CpuMask.of().toHex()).isEqualTo("0");
        assertThat(CpuMask.of(0, 1, 2, 3, 5)).hasToString("0-3,5");
    }

    @Test
    void roundTripsThroughBothForms() {
        List<CpuMask> masks = List.of(CpuMask.of(0), CpuMask.of(5), CpuMask.of(1, 3), CpuMask.of(0, 1, 2, 3, 5),
                CpuMask.all(40), CpuMask.of(31, 32), CpuMask.of(0, 63, 64, 100), CpuMask.all(1));
        for (CpuMask m : masks) {
            assertThat(CpuMask.parseList(m.toList())).as("list %s", m.toList()).isEqualTo(m);
            assertThat(CpuMask.parseHex(m.toHex())).as("hex %s", m.toHex()).isEqualTo(m);
            assertThat(CpuMask.parse(m.toHex())).as("parse(hex %s)", m.toHex()).isEqualTo(m);
            assertThat(CpuMask.parse("0x" + m.toHex())).as("parse(0x%s)", m.toHex()).isEqualTo(m);
        }
        assertThat(CpuMask.parse("0-3,5").toList()).isEqualTo("0-3,5");
        assertThat(CpuMask.parse("ff,ffffffff").toHex()).isEqualTo("ff,ffffffff");
    }

    @ParameterizedTest
    @ValueSource(strings = {"g", "3-1", "1,,2", "-1", "0xzz", "1-x", "123456789"})
    void badTextIsRefusedNamingIt(String text) {
        assertThatThrownBy(() -> CpuMask.parse(text))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'" + text.replaceFirst("^0x", "") + "'");
    }

    @Test
    void emptyTextIsRefused() {
        assertThatThrownBy(() -> CpuMask.parse("")).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("empty cpumask");
        assertThatThrownBy(() -> CpuMask.parse("   ")).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("empty cpumask");
        assertThatThrownBy(() -> CpuMask.parseList("")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> CpuMask.parseHex("")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> CpuMask.parse("0x")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void badListElementsAreExplained() {
        assertThatThrownBy(() -> CpuMask.parse("3-1")).hasMessageContaining("backwards");
        assertThatThrownBy(() -> CpuMask.parse("1,,2")).hasMessageContaining("empty element");
        assertThatThrownBy(() -> CpuMask.parseList("70000")).hasMessageContaining("70000").hasMessageContaining("out of range");
        assertThatThrownBy(() -> CpuMask.parse("g")).hasMessageContaining("not hex");
        assertThatThrownBy(() -> CpuMask.of(-1)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("-1");
        assertThatThrownBy(() -> CpuMask.all(0)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("0");
    }

    @Test
    void equalsAndHashCodeFollowTheSet() {
        CpuMask a = CpuMask.parse("3");
        CpuMask b = CpuMask.parseList("0-1");
        CpuMask c = CpuMask.of(1, 0, 1);
        assertThat(a).isEqualTo(b).isEqualTo(c).isEqualTo(CpuMask.all(2));
        assertThat(a.hashCode()).isEqualTo(b.hashCode()).isEqualTo(c.hashCode());
        assertThat(a).isNotEqualTo(CpuMask.of(0)).isNotEqualTo(CpuMask.of(0, 1, 2)).isNotEqualTo("0-1");
        assertThat(CpuMask.of()).isEqualTo(CpuMask.of());
        assertThat(CpuMask.of(0, 1, 2, 3, 5).cardinality()).isEqualTo(5);
        assertThat(CpuMask.of(0, 1, 2, 3, 5).contains(5)).isTrue();
        assertThat(CpuMask.of(0, 1, 2, 3, 5).contains(4)).isFalse();
        assertThat(CpuMask.of(0).contains(-1)).isFalse();
        assertThat(CpuMask.of().isEmpty()).isTrue();
    }

    @Test
    void andAndSubset() {
        CpuMask x = CpuMask.parseList("0-3");
        CpuMask y = CpuMask.parseList("2-5");
        assertThat(x.and(y)).isEqualTo(CpuMask.of(2, 3));
        assertThat(x.and(CpuMask.of(7)).isEmpty()).isTrue();
        // and() does not change its operands
        assertThat(x).isEqualTo(CpuMask.parseList("0-3"));
        assertThat(y).isEqualTo(CpuMask.parseList("2-5"));
        assertThat(CpuMask.of(1, 2).isSubsetOf(x)).isTrue();
        assertThat(x.isSubsetOf(x)).isTrue();
        assertThat(CpuMask.of().isSubsetOf(x)).isTrue();
        assertThat(y.isSubsetOf(x)).isFalse();
        assertThat(x.isSubsetOf(CpuMask.of(0, 1, 2))).isFalse();
    }

    // ---- WorkqueueAttrs ---------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(ints = {-21, 20, 100, Integer.MIN_VALUE})
    void niceOutOfRangeIsRefused(int nice) {
        assertThatThrownBy(() -> new WorkqueueAttrs(nice, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("nice " + nice)
                .hasMessageContaining("-20..19");
        assertThatThrownBy(() -> WorkqueueAttrs.defaults().withNice(nice)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void niceLimitsAreAccepted() {
        assertThatCode(() -> new WorkqueueAttrs(-20, null)).doesNotThrowAnyException();
        assertThatCode(() -> new WorkqueueAttrs(19, CpuMask.of(0))).doesNotThrowAnyException();
        assertThat(WorkqueueAttrs.defaults()).isEqualTo(new WorkqueueAttrs(0, null));
        assertThat(WorkqueueAttrs.HIGHPRI_NICE).isEqualTo(-20);
    }

    @Test
    void emptyCpumaskIsRefused() {
        assertThatThrownBy(() -> new WorkqueueAttrs(0, CpuMask.of()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cpumask");
        assertThatThrownBy(() -> WorkqueueAttrs.defaults().withCpumask(CpuMask.parseList("0-3").and(CpuMask.of(9))))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void attrsEqualityIsByValue() {
        WorkqueueAttrs a = new WorkqueueAttrs(5, CpuMask.parse("3"));
        WorkqueueAttrs b = new WorkqueueAttrs(5, CpuMask.parseList("0-1"));
        assertThat(a).isEqualTo(b);
        assertThat(a.hashCode()).isEqualTo(b.hashCode());
        assertThat(a).isNotEqualTo(a.withNice(4)).isNotEqualTo(a.withCpumask(CpuMask.of(0)));
        assertThat(WorkqueueAttrs.defaults().resolved(4)).isEqualTo(new WorkqueueAttrs(0, CpuMask.all(4)));
    }
}
