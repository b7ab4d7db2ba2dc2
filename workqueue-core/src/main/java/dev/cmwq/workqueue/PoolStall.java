package dev.cmwq.workqueue;

import java.time.Duration;

/**
 * A worker pool that has had pending items and started none for longer than the watchdog
 * threshold (the kernel's workqueue lockup), or its recovery.
 *
 * @param poolId    the pool's id
 * @param pool      the pool as the kernel prints it: {@code cpus=0 flags=0x0 nice=0}
 * @param stuckFor  how long no item started while items were pending (at detection; for a
 *                  recovery, the whole stall)
 * @param pending   items waiting on the pool's worklist at that moment
 * @param report    the kernel-style report: the {@code BUG: workqueue lockup} line and the pool's
 *                  dump (busy workers, their items and Java stacks, pending items)
 */
public record PoolStall(int poolId, String pool, Duration stuckFor, int pending, String report) {
}
