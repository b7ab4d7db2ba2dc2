package dev.cmwq.workqueue.linux;

import static dev.cmwq.workqueue.linux.Proc.callOnFreshThread;
import static dev.cmwq.workqueue.linux.Proc.runOnFreshThread;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cmwq.workqueue.CpuMask;
import dev.cmwq.workqueue.ThreadPlacement;
import java.lang.foreign.Linker;
import java.lang.invoke.MethodHandle;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The real thing, in this JVM (Surefire starts it with --enable-native-access=ALL-UNNAMED), checked
 * against /proc. Every test pins and renices only a fresh thread of its own.
 */
class LinuxThreadPlacementTest {
    private static ThreadPlacement placement;

    @BeforeAll
    static void load() {
        placement = ThreadPlacement.load();
    }

    @Test
    void loadFindsTheLinuxPlacement() {
        assertThat(placement).isInstanceOf(LinuxThreadPlacement.class);
        assertThat(placement.enforced()).isTrue();
        assertThat(placement.description()).contains("sched_setaffinity", "FFM",
                "Java " + Runtime.version().feature());
    }

    @Test
    void tidIsTheKernelsThreadId() throws Exception {
        runOnFreshThread(() -> {
            long tid = placement.tid();
            assertThat(tid).isPositive().isEqualTo(Proc.threadSelfTid());
            assertThat(tid).isNotEqualTo(ProcessHandle.current().pid());
        });
        assertThat(placement.tid()).isEqualTo(Proc.threadSelfTid());
    }

    @Test
    void theSyscallFallbackForOldGlibcGivesTheSameTid() throws Exception {
        Linker linker = Linker.nativeLinker();
        MethodHandle gettid = LinuxThreadPlacement.Libc.syscallGettid(linker, linker.defaultLookup(),
                System.getProperty("os.arch"));
        runOnFreshThread(() -> {
            try {
                assertThat((int) gettid.invokeExact()).isEqualTo(placement.tid()).isEqualTo(Proc.threadSelfTid());
            } catch (Throwable t) {
                throw new AssertionError(t);
            }
        });
    }

    @Test
    void setAffinityPinsTheCallingThreadOnly() throws Exception {
        assumeTwoCpus();
        String junitThreadBefore = Proc.cpusAllowedList(placement.tid());
        runOnFreshThread(() -> {
            long tid = placement.tid();

            assertThat(placement.setAffinity(CpuMask.of(0))).isNull();
            assertThat(Proc.cpusAllowedList(tid)).isEqualTo("0");
            assertThat(placement.getAffinity()).isEqualTo(CpuMask.of(0));

            assertThat(placement.setAffinity(CpuMask.of(1))).isNull();
            assertThat(Proc.cpusAllowedList(tid)).isEqualTo("1");
            assertThat(placement.getAffinity()).isEqualTo(CpuMask.of(1));

            assertThat(placement.setAffinity(CpuMask.of(0, 1))).isNull();
            assertThat(Proc.cpusAllowedList(tid)).isEqualTo("0-1");
            assertThat(placement.getAffinity()).isEqualTo(CpuMask.of(0, 1));
        });
        assertThat(Proc.cpusAllowedList(placement.tid())).isEqualTo(junitThreadBefore);
    }

    @Test
    void getAffinityAgreesWithProc() throws Exception {
        runOnFreshThread(() -> {
            CpuMask mask = placement.getAffinity();
            assertThat(mask).isNotNull();
            assertThat(mask.toList()).isEqualTo(Proc.cpusAllowedList(placement.tid()));
        });
    }

    @Test
    void currentCpuIsTheOnlyAllowedCpu() throws Exception {
        assumeTwoCpus();
        runOnFreshThread(() -> {
            for (int cpu : new int[] {1, 0, 1}) {
                assertThat(placement.setAffinity(CpuMask.of(cpu))).isNull();
                // sched_setaffinity migrates the calling thread before it returns.
                for (int i = 0; i < 5; i++) {
                    assertThat(placement.currentCpu()).as("currentCpu() pinned to %d, try %d", cpu, i)
                            .isEqualTo(cpu);
                    Thread.sleep(1);
                }
            }
        });
    }

    @Test
    void currentCpuIsAnAllowedCpu() throws Exception {
        runOnFreshThread(() -> {
            int cpu = placement.currentCpu();
            assertThat(cpu).isNotNegative();
            assertThat(placement.getAffinity().contains(cpu)).isTrue();
        });
    }

    @Test
    void setAffinityBeyondTheMachineIsEinvalAndChangesNothing() throws Exception {
        runOnFreshThread(() -> {
            long tid = placement.tid();
            String before = Proc.cpusAllowedList(tid);
            assertThat(placement.setAffinity(CpuMask.of(63))).isEqualTo("sched_setaffinity(63): EINVAL");
            assertThat(Proc.cpusAllowedList(tid)).isEqualTo(before);
            // A CPU past glibc's 1024-bit cpu_set_t takes a bigger buffer, and is just as absent.
            assertThat(placement.setAffinity(CpuMask.of(4000))).isEqualTo("sched_setaffinity(4000): EINVAL");
            assertThat(placement.setAffinity(CpuMask.of())).isEqualTo("sched_setaffinity(): EINVAL");
            assertThat(Proc.cpusAllowedList(tid)).isEqualTo(before);
        });
    }

    @Test
    void setAffinityToAMaskReachingPastTheMachineKeepsTheCpusThatExist() throws Exception {
        assumeTwoCpus();
        runOnFreshThread(() -> {
            long tid = placement.tid();
            assertThat(placement.setAffinity(CpuMask.of(1, 63, 2000))).isNull();
            assertThat(Proc.cpusAllowedList(tid)).isEqualTo("1");
            assertThat(placement.getAffinity()).isEqualTo(CpuMask.of(1));
        });
    }

    @Test
    void setNiceChangesTheCallingThreadsNice() throws Exception {
        int junitNiceBefore = Proc.nice(placement.tid());
        runOnFreshThread(() -> {
            long tid = placement.tid();
            assertThat(placement.getNice()).isEqualTo(Proc.nice(tid));

            assertThat(placement.setNice(5)).isNull();
            assertThat(Proc.nice(tid)).isEqualTo(5);
            assertThat(placement.getNice()).isEqualTo(5);

            // Lowering nice needs CAP_SYS_NICE (or RLIMIT_NICE): as root it works, else EACCES.
            String lower = placement.setNice(-5);
            if (lower == null) {
                assertThat(Proc.nice(tid)).isEqualTo(-5);
                assertThat(placement.getNice()).isEqualTo(-5);
            } else {
                assertThat(lower).isIn("setpriority(-5): EACCES", "setpriority(-5): EPERM");
                assertThat(Proc.nice(tid)).isEqualTo(5);
                assertThat(placement.getNice()).isEqualTo(5);
            }
        });
        assertThat(Proc.nice(placement.tid())).isEqualTo(junitNiceBefore);
    }

    @Test
    void getNiceReadsMinusOneAsANiceLevelNotAnError() throws Exception {
        Integer nice = callOnFreshThread(() -> {
            if (placement.setNice(-1) != null) {
                return null; // not allowed to go below 0 here
            }
            assertThat(Proc.nice(placement.tid())).isEqualTo(-1);
            return placement.getNice();
        });
        assumeTrue(nice != null, "not allowed to set nice -1");
        assertThat(nice).isEqualTo(-1);
    }

    @Test
    void setNiceClampsToTheKernelsRange() throws Exception {
        runOnFreshThread(() -> {
            assertThat(placement.setNice(100)).isNull();
            assertThat(Proc.nice(placement.tid())).isEqualTo(19);
            assertThat(placement.getNice()).isEqualTo(19);
        });
    }

    private static void assumeTwoCpus() {
        CpuMask allowed = placement.getAffinity();
        // AssertJ's assumptions would load ByteBuddy, which makes JDK 24+ warn about sun.misc.Unsafe.
        assumeTrue(allowed != null && allowed.contains(0) && allowed.contains(1),
                () -> "needs CPUs 0 and 1 online and allowed; allowed: " + allowed);
    }
}
