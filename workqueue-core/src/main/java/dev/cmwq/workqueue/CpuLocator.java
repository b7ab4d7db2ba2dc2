package dev.cmwq.workqueue;

/**
 * Tells which CPU the calling thread is on, so a bound workqueue's item goes to that CPU's pool
 * (the kernel queues on the issuer's CPU). The default, until native placement is available, is a
 * stable per-thread choice: a thread always maps to the same CPU, and threads spread over all CPUs.
 * Worker threads of per-CPU pools always count as being on their pool's CPU.
 */
@FunctionalInterface
public interface CpuLocator {
    /** A CPU number, reduced modulo the engine's CPU count; negative if unknown. */
    int currentCpu();

    /** The default: a hash of the thread id. */
    static CpuLocator perThread() {
        return () -> {
            long id = Thread.currentThread().threadId();
            return (int) ((id * 0x9E3779B97F4A7C15L) >>> 33);
        };
    }
}
