package dev.cmwq.workqueue;

/**
 * A snapshot of one workqueue's counters, summed over its pool workqueues (the kernel's
 * {@code pwq->stats}, as {@code wq_monitor.py} shows them).
 *
 * @param started   items started ({@code total})
 * @param completed items whose function returned
 * @param failed    items whose function threw
 * @param cmWakeups concurrency-management wakeups: an idle worker woken because a running one slept ({@code CMW})
 * @param inFlight  queued and not finished ({@code infl} plus inactive)
 * @param active    active items: on a pool's worklist or running
 * @param inactive  items waiting beyond max_active
 */
public record WorkqueueStats(long started, long completed, long failed, long cmWakeups, int inFlight, int active,
                             int inactive) {
}
