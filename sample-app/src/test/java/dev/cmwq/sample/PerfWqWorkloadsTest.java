package dev.cmwq.sample;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The workload table against the seed's text ("workload 0" .. "workload 5") and the C constants. */
class PerfWqWorkloadsTest {

    /** "N wqs with <composition>" per workload, as cmwq-overview-2010.txt lists them. */
    static final List<Map<String, Integer>> TEXT = List.of(
            Map.of("4 sht", 12, "2 sht + 2 med", 2, "2 med + 1 lng", 4, "1 lng", 8),
            Map.of("4 sht", 8, "2 sht + 2 med", 2, "2 med + 1 lng", 4, "1 lng", 8),
            Map.of("4 sht", 4, "2 sht + 2 med", 2, "2 med + 1 lng", 4, "1 lng", 8),
            Map.of("4 sht", 2, "2 sht + 2 med", 2, "2 med + 1 lng", 4, "1 lng", 8),
            Map.of("4 sht", 2, "2 med", 2, "2 med + 1 lng", 4, "1 lng", 8),
            Map.of("2 med", 2, "2 med + 1 lng", 4, "1 lng", 8));

    static Map<String, Integer> compositions(int workload) {
        Map<Integer, List<PerfWq.TestSpec>> byWq = PerfWq.workload(workload).stream()
                .collect(Collectors.groupingBy(PerfWq.TestSpec::wqId, TreeMap::new, Collectors.toList()));
        Map<String, Integer> out = new TreeMap<>();
        for (List<PerfWq.TestSpec> specs : byWq.values()) {
            List<String> parts = new ArrayList<>();
            for (PerfWq.TestSpec t : specs) {
                parts.add(t.nrWorks() + " " + t.workload().name());
            }
            out.merge(String.join(" + ", parts), 1, Integer::sum);
        }
        return out;
    }

    @Test
    void everyWorkloadHasTheTextsQueuesAndWorks() {
        for (int wl = 0; wl < PerfWq.WORKLOADS; wl++) {
            assertThat(compositions(wl)).as("workload %d", wl).isEqualTo(new TreeMap<>(TEXT.get(wl)));
            Map<String, Integer> expectedWorks = new TreeMap<>();
            int wqs = 0;
            for (Map.Entry<String, Integer> e : TEXT.get(wl).entrySet()) {
                wqs += e.getValue();
                for (String part : e.getKey().split(" \\+ ")) {
                    String[] nt = part.split(" ");
                    expectedWorks.merge(nt[1], Integer.parseInt(nt[0]) * e.getValue(), Integer::sum);
                }
            }
            assertThat(PerfWq.plan(wl, 1, PerfWq.Burn.L).get("queues")).as("workload %d", wl).asList().hasSize(wqs);
            assertThat(new TreeMap<>((Map<?, ?>) PerfWq.plan(wl, 1, PerfWq.Burn.L).get("works"))).as("workload %d", wl)
                    .isEqualTo(expectedWorks);
        }
        // workload 0 is the C test_specs[] array as is: 26 wqs pwq-00..pwq-25
        assertThat(PerfWq.workload(0)).isEqualTo(PerfWq.TEST_SPECS);
        assertThat(PerfWq.plan(0, 1, PerfWq.Burn.L).get("queues")).asList().first().isEqualTo("pwq-00");
        assertThat(PerfWq.plan(0, 1, PerfWq.Burn.L).get("queues")).asList().last().isEqualTo("pwq-25");
        assertThatThrownBy(() -> PerfWq.workload(6)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("0..5");
    }

    @Test
    void cyclesAreParamSetTriggers() {
        // the text's "cycles" column is a 15 s run: 454 / 125 / 42
        assertThat(PerfWq.SHORT.cycles(15)).isEqualTo(454);
        assertThat(PerfWq.MEDIUM.cycles(15)).isEqualTo(125);
        assertThat(PerfWq.LONG.cycles(15)).isEqualTo(42);
        assertThat(PerfWq.SHORT.cycles(2)).isEqualTo(2000 / 11 / 3);
        assertThat(PerfWq.LONG.cycles(1)).isEqualTo(2);
        assertThat(PerfWq.SHORT.burnUsecs(PerfWq.Burn.L)).isEqualTo(50);
        assertThat(List.of(PerfWq.SHORT.burnUsecs(PerfWq.Burn.S), PerfWq.MEDIUM.burnUsecs(PerfWq.Burn.S),
                PerfWq.LONG.burnUsecs(PerfWq.Burn.S))).containsExactly(1, 2, 4);
    }
}
