package dev.cmwq.workqueue.linux;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.CpuMask;
import dev.cmwq.workqueue.ThreadPlacement;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

class LinuxThreadPlacementProviderTest {

    @Test
    void createInThisJvmIsEnforced() {
        assertThat(LinuxThreadPlacementProvider.class.getModule().isNativeAccessEnabled()).isTrue();
        ThreadPlacement p = new LinuxThreadPlacementProvider().create();
        assertThat(p).isInstanceOf(LinuxThreadPlacement.class);
        assertThat(p.enforced()).isTrue();
        assertThat(p.tid()).isPositive();
        assertThat(p.currentCpu()).isNotNegative();
    }

    @Test
    void otherSystemsAreRefusedWithTheReason() {
        Module module = LinuxThreadPlacementProvider.class.getModule();
        assertThat(LinuxThreadPlacementProvider.whyNot("Linux", "amd64", module)).isNull();
        assertThat(LinuxThreadPlacementProvider.whyNot("Linux", "aarch64", module)).isNull();
        assertThat(LinuxThreadPlacementProvider.whyNot("Mac OS X", "aarch64", module))
                .isEqualTo("workqueue-native acts on Linux only; this is Mac OS X");
        assertThat(LinuxThreadPlacementProvider.whyNot("Linux", "riscv64", module))
                .isEqualTo("workqueue-native supports x86_64 and aarch64 Linux; this is riscv64");
    }

    @Test
    void theReasonSaysHowToEnableNativeAccess() {
        assertThat(LinuxThreadPlacementProvider.notEnabled(getClass().getModule())).isEqualTo(
                "native access is not enabled for the unnamed module; start the JVM with"
                        + " --enable-native-access=ALL-UNNAMED (class path) or"
                        + " --enable-native-access=dev.cmwq.workqueue.linux (module path), or add"
                        + " 'Enable-Native-Access: ALL-UNNAMED' to an executable jar's manifest");
        assertThat(LinuxThreadPlacementProvider.notEnabled(Object.class.getModule()))
                .isEqualTo("native access is not enabled for module java.base;"
                        + " start the JVM with --enable-native-access=java.base");
    }

    @Test
    void masksAreWrittenInTheKernelsBitOrder() {
        try (Arena arena = Arena.ofConfined()) {
            long bytes = LinuxThreadPlacement.maskBytes(LinuxThreadPlacement.MIN_MASK_BITS);
            assertThat(bytes).isEqualTo(128); // glibc's sizeof(cpu_set_t)
            MemorySegment buf = arena.allocate(bytes, 8);
            LinuxThreadPlacement.toWords(CpuMask.of(0, 1, 63, 64, 1023), buf);
            assertThat(buf.get(ValueLayout.JAVA_BYTE, 0)).isEqualTo((byte) 0b11);
            assertThat(buf.getAtIndex(ValueLayout.JAVA_LONG, 0)).isEqualTo(0x8000_0000_0000_0003L);
            assertThat(buf.getAtIndex(ValueLayout.JAVA_LONG, 1)).isEqualTo(1L);
            assertThat(buf.getAtIndex(ValueLayout.JAVA_LONG, 15)).isEqualTo(Long.MIN_VALUE);
            assertThat(LinuxThreadPlacement.fromWords(buf, bytes)).isEqualTo(CpuMask.of(0, 1, 63, 64, 1023));

            LinuxThreadPlacement.toWords(CpuMask.of(5), buf);
            assertThat(LinuxThreadPlacement.fromWords(buf, bytes)).isEqualTo(CpuMask.of(5));
        }
    }

    @Test
    void bufferSizesAreWholeWords() {
        assertThat(LinuxThreadPlacement.maskBytes(1)).isEqualTo(8);
        assertThat(LinuxThreadPlacement.maskBytes(64)).isEqualTo(8);
        assertThat(LinuxThreadPlacement.maskBytes(65)).isEqualTo(16);
        assertThat(LinuxThreadPlacement.maskBytes(4001)).isEqualTo(504);
    }

    @Test
    void errnoNames() {
        assertThat(LinuxThreadPlacement.Errno.name(22)).isEqualTo("EINVAL");
        assertThat(LinuxThreadPlacement.Errno.name(1)).isEqualTo("EPERM");
        assertThat(LinuxThreadPlacement.Errno.name(13)).isEqualTo("EACCES");
        assertThat(LinuxThreadPlacement.Errno.name(3)).isEqualTo("ESRCH");
        assertThat(LinuxThreadPlacement.Errno.name(14)).isEqualTo("EFAULT");
        assertThat(LinuxThreadPlacement.Errno.name(38)).isEqualTo("errno 38");
    }
}
