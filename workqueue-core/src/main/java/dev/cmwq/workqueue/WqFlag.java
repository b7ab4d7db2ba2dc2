package dev.cmwq.workqueue;

/**
 * Workqueue flags, the kernel's {@code WQ_*} constants of {@code alloc_workqueue()}.
 *
 * <p>Ordered queues are not a flag here: {@link Workqueues#allocOrdered} makes them (the kernel
 * keeps that as the internal {@code __WQ_ORDERED}).
 */
public enum WqFlag {
    /** {@code WQ_UNBOUND}: served by unbound pools keyed by attributes; no concurrency management. */
    UNBOUND(1 << 1),
    /** {@code WQ_FREEZABLE}: starts nothing new while the engine is frozen. */
    FREEZABLE(1 << 2),
    /** {@code WQ_MEM_RECLAIM}: owns a rescuer so it always has an execution context. */
    MEM_RECLAIM(1 << 3),
    /** {@code WQ_HIGHPRI}: bound items go to the CPU's highpri pool (workers at nice -20). */
    HIGHPRI(1 << 4),
    /** {@code WQ_CPU_INTENSIVE}: running items do not count toward the pool's concurrency level. */
    CPU_INTENSIVE(1 << 5),
    /** {@code WQ_SYSFS}: the queue's attributes may be changed at run time from outside. */
    SYSFS(1 << 6),
    /** {@code WQ_POWER_EFFICIENT}: unbound when the engine's power-efficient mode is on, bound otherwise. */
    POWER_EFFICIENT(1 << 7);

    /** The kernel's internal {@code __WQ_ORDERED} bit, shown in dumps of ordered queues. */
    public static final int WQ_ORDERED_BIT = 1 << 17;

    private final int bit;

    WqFlag(int bit) {
        this.bit = bit;
    }

    /** The flag's value in the kernel's {@code enum wq_flags}. */
    public int bit() {
        return bit;
    }

    /** The kernel's spelling, e.g. {@code WQ_MEM_RECLAIM}. */
    public String kernelName() {
        return "WQ_" + name();
    }
}
