package dev.cmwq.workqueue.bench;

import java.lang.management.ManagementFactory;

/** The process's CPU time, for the plain-main benchmarks (all threads, the JIT and GC included). */
final class ProcessCpu {
    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    private ProcessCpu() {
    }

    /** CPU time used by the process so far, in nanoseconds (about 10 ms granularity on Linux). */
    static long nanos() {
        return OS.getProcessCpuTime();
    }
}
