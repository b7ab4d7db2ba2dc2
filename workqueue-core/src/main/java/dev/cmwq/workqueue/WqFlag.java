package dev.cmwq.workqueue;

/**
 * Workqueue flags, the kernel's {@code WQ_*} constants of {@code alloc_workqueue()}.
 *
 * <p>Ordered queues are not a flag here: {@link Workqueues#allocOrdered} makes them (the kernel
 * keeps that as the internal {@code __WQ_ORDERED}).
 */
public enum WqFlag {
    /** {@code WQ_UNBOUND}: served by unbound pools keyed by attributes; no concurrency management. */
    UNBOUND,
    /** {@code WQ_FREEZABLE}: starts nothing new while the engine is frozen. */
    FREEZABLE,
    /** {@code WQ_MEM_RECLAIM}: owns a rescuer so it always has an execution context. */
    MEM_RECLAIM,
    /** {@code WQ_HIGHPRI}: bound items go to the CPU's highpri pool (workers at nice -20). */
    HIGHPRI,
    /** {@code WQ_CPU_INTENSIVE}: running items do not count toward the pool's concurrency level. */
    CPU_INTENSIVE,
    /** {@code WQ_SYSFS}: the queue's attributes may be changed at run time from outside. */
    SYSFS,
    /** {@code WQ_POWER_EFFICIENT}: unbound when the engine's power-efficient mode is on, bound otherwise. */
    POWER_EFFICIENT;

    /** The kernel's spelling, e.g. {@code WQ_MEM_RECLAIM}. */
    public String kernelName() {
        return "WQ_" + name();
    }
}
