package dev.cmwq.workqueue;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/** The calling thread's CPU time, for the CPUtime statistic; 0 where the JVM can't tell. */
final class CpuClock {
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static final boolean SUPPORTED = THREADS.isCurrentThreadCpuTimeSupported();

    private CpuClock() {
    }

    static long currentThreadCpuTime() {
        if (!SUPPORTED) {
            return 0;
        }
        long t = THREADS.getCurrentThreadCpuTime();
        return t < 0 ? 0 : t;
    }
}
