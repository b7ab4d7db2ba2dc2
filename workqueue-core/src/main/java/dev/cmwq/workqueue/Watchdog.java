package dev.cmwq.workqueue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The workqueue watchdog ({@code wq_watchdog_timer_fn}): every quarter of the threshold it checks
 * each pool's {@code watchdogTs} (the last timed item start, or when the worklist became
 * non-empty), or, if later, the check at which it saw the pool's start count move (untimed items
 * start without reading the clock; see {@link PoolWorkqueue}). A
 * pool with pending items and no progress for longer than the threshold is reported once per stall
 * in the kernel's words, followed by a dump of the pool; when it moves again, the recovery is
 * reported. Listeners get both.
 *
 * <p>{@code WorkerPool.stalledSince}, {@code progressSeen} and the writes of {@code progressSeenAt}
 * are confined to the watchdog thread; listeners are a
 * copy-on-write list.
 */
final class Watchdog extends EngineDaemon {
    private static final Logger log = LoggerFactory.getLogger(Watchdog.class);

    private final Workqueues engine;
    private final long thresholdNanos;
    final List<WatchdogListener> listeners = new CopyOnWriteArrayList<>();
    volatile long checks;

    Watchdog(Workqueues engine, Duration threshold) {
        this.engine = engine;
        this.thresholdNanos = threshold.toNanos();
    }

    @Override
    boolean enabled() {
        return thresholdNanos > 0;
    }

    Duration threshold() {
        return Duration.ofNanos(thresholdNanos);
    }

    @Override
    public void run() {
        long period = Math.max(TimeUnit.MILLISECONDS.toNanos(10), thresholdNanos / 4);
        while (!stopped()) {
            LockSupport.parkNanos(this, period);
            if (!stopped()) {
                check(System.nanoTime());
            }
        }
    }

    /** One pass over every pool. */
    void check(long now) {
        checks++;
        for (WorkerPool pool : engine.allPools()) {
            // Worklist first, then the timestamp (as the kernel): insertWorkLocked writes the
            // timestamp before nrPending, so a fresh item is never paired with an old timestamp.
            int pending = pool.nrPending;
            long starts = pool.starts();
            if (starts != pool.progressSeen) { // items started, timed or not: progress as of now
                pool.progressSeen = starts;
                pool.progressSeenAt = now;
            }
            long ts = pool.lastProgressNanos();
            boolean stuck = pending > 0 && now - ts > thresholdNanos;
            if (stuck && pool.stalledSince == 0) {
                pool.stalledSince = ts == 0 ? 1 : ts;
                Duration stuckFor = Duration.ofNanos(now - ts);
                String report = "BUG: workqueue lockup - pool " + pool.kernelDescription() + " stuck for "
                        + stuckFor.toSeconds() + "s!\n" + pool.dump(now);
                log.error(report);
                PoolStall stall = new PoolStall(pool.id, pool.kernelDescription(), stuckFor, pool.nrPending, report);
                for (WatchdogListener l : listeners) {
                    notify(() -> l.stalled(stall));
                }
            } else if (!stuck && pool.stalledSince != 0) {
                Duration stalled = Duration.ofNanos(Math.max(0, (ts > pool.stalledSince ? ts : now) - pool.stalledSince));
                pool.stalledSince = 0;
                String report = "workqueue: pool " + pool.kernelDescription() + " recovered after " + stalled.toMillis() + "ms";
                log.warn(report);
                PoolStall recovery = new PoolStall(pool.id, pool.kernelDescription(), stalled, pool.nrPending, report);
                for (WatchdogListener l : listeners) {
                    notify(() -> l.recovered(recovery));
                }
            }
        }
    }

    /** Pools currently stalled, for health checks. */
    List<Integer> stalledPools() {
        List<Integer> ids = new ArrayList<>();
        for (WorkerPool pool : engine.allPools()) {
            if (pool.stalledSince != 0) {
                ids.add(pool.id);
            }
        }
        return ids;
    }

    private static void notify(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            log.warn("workqueue: watchdog listener failed", e);
        }
    }
}
