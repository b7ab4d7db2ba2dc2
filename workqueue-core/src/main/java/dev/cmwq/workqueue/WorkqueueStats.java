package dev.cmwq.workqueue;

/**
 * A snapshot of one workqueue's counters, summed over its pool workqueues: the columns of the
 * kernel's {@code wq_monitor.py} and a few more.
 *
 * @param started        items started ({@code total})
 * @param completed      items whose function returned
 * @param failed         items whose function threw
 * @param cpuTimeNanos   CPU time the items used ({@code CPUtime}); 0 when CPU accounting is off
 * @param cpuIntensive   items found hogging the CPU and moved out of concurrency management ({@code CPUitsv})
 * @param cmWakeups      concurrency-management wakeups: an idle worker woken because a running one slept ({@code CMW})
 * @param repatriated    unbound items moved back to their pod ({@code RPR}); always 0, see docs/placement.md
 * @param mayday         maydays sent to the queue's rescuer ({@code mayday})
 * @param rescued        items run by the rescuer ({@code rescued})
 * @param inFlight       queued and not finished ({@code infl})
 * @param active         active items: on a pool's worklist, scheduled or running
 * @param inactive       items waiting beyond max_active (or frozen)
 * @param pending        queued and not started (in flight minus running)
 * @param queueLatency   time from queueing (or a delayed item's timer firing) to start
 * @param runTime        time from start to end of the function
 */
public record WorkqueueStats(long started, long completed, long failed, long cpuTimeNanos, long cpuIntensive,
                             long cmWakeups, long repatriated, long mayday, long rescued, int inFlight, int active,
                             int inactive, int pending, LatencySnapshot queueLatency, LatencySnapshot runTime) {
}
