package dev.cmwq.workqueue.actuate;

import dev.cmwq.workqueue.PoolStall;
import dev.cmwq.workqueue.WatchdogListener;
import dev.cmwq.workqueue.Workqueues;
import java.util.List;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicLong;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.context.ApplicationEventPublisher;

/**
 * Listens to the engine's watchdog: keeps the pools stalled now, counts stalls, and publishes a
 * {@link WorkqueueStallEvent} for each stall and recovery. The health contributor and the meters
 * read it, so turning the health contributor off keeps the events and the stall count.
 *
 * <p>{@code stalls} (pool id to the report and when it came) is a concurrent map written by the
 * watchdog thread and read by anyone; {@code stallCount} is atomic.
 */
public class WorkqueueStallTracker implements WatchdogListener, DisposableBean {

    private final Workqueues engine;
    private final ApplicationEventPublisher events;
    private final ConcurrentSkipListMap<Integer, Stall> stalls = new ConcurrentSkipListMap<>();
    private final AtomicLong stallCount = new AtomicLong();

    public WorkqueueStallTracker(Workqueues engine, ApplicationEventPublisher events) {
        this.engine = engine;
        this.events = events;
        engine.addWatchdogListener(this);
    }

    @Override
    public void stalled(PoolStall stall) {
        if (stalls.put(stall.poolId(), new Stall(stall, System.nanoTime())) == null) {
            stallCount.incrementAndGet();
            events.publishEvent(new WorkqueueStallEvent(engine, stall, true));
        }
    }

    @Override
    public void recovered(PoolStall stall) {
        if (stalls.remove(stall.poolId()) != null) {
            events.publishEvent(new WorkqueueStallEvent(engine, stall, false));
        }
    }

    /** The pools stalled now, by pool id. */
    public List<Stall> current() {
        return List.copyOf(stalls.values());
    }

    /** Stalls seen since start (a pool that stalls, recovers and stalls again counts twice). */
    public long stallCount() {
        return stallCount.get();
    }

    public Workqueues engine() {
        return engine;
    }

    @Override
    public void destroy() {
        engine.removeWatchdogListener(this);
    }

    /** A stall as the watchdog reported it, and when ({@link System#nanoTime()}). */
    public record Stall(PoolStall report, long reportedAtNanos) {
    }
}
