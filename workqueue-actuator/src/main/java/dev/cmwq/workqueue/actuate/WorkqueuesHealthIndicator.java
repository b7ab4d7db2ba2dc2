package dev.cmwq.workqueue.actuate;

import dev.cmwq.workqueue.PoolStall;
import dev.cmwq.workqueue.WatchdogListener;
import dev.cmwq.workqueue.Workqueues;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicLong;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.ApplicationEventPublisher;

/**
 * The {@code workqueues} health contributor, fed by the engine's watchdog: DOWN, naming each
 * stalled pool (for how long, how many items wait), while any pool is stalled; UP when every pool
 * makes progress. Each stall and recovery is also published as a {@link WorkqueueStallEvent}.
 *
 * <p>{@code stalls} (pool id to its latest report) is a concurrent map written by the watchdog
 * thread and read by health checks; {@code stallCount} is atomic.
 */
public class WorkqueuesHealthIndicator implements HealthIndicator, WatchdogListener {

    private final Workqueues engine;
    private final ApplicationEventPublisher events;
    private final ConcurrentSkipListMap<Integer, Seen> stalls = new ConcurrentSkipListMap<>();
    private final AtomicLong stallCount = new AtomicLong();

    public WorkqueuesHealthIndicator(Workqueues engine, ApplicationEventPublisher events) {
        this.engine = engine;
        this.events = events;
        engine.addWatchdogListener(this);
    }

    @Override
    public void stalled(PoolStall stall) {
        boolean first = stalls.put(stall.poolId(), new Seen(stall, System.nanoTime())) == null;
        if (first) {
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

    /** A stall as reported, and when. */
    private record Seen(PoolStall stall, long atNanos) {
    }

    /** Stalls seen since start (a pool that stalls, recovers and stalls again counts twice). */
    public long stallCount() {
        return stallCount.get();
    }

    @Override
    public Health health() {
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("engine", engine.name());
        details.put("watchdogThreshold", engine.watchdogThreshold().toString());
        if (stalls.isEmpty()) {
            details.put("pools", engine.pools().size());
            return Health.up().withDetails(details).build();
        }
        List<Map<String, Object>> stalled = new ArrayList<>();
        long now = System.nanoTime();
        for (Seen seen : stalls.values()) {
            PoolStall s = seen.stall;
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("pool", s.pool());
            m.put("stuckFor", s.stuckFor().plusNanos(now - seen.atNanos).truncatedTo(java.time.temporal.ChronoUnit.MILLIS).toString());
            m.put("pending", engine.pools().stream().filter(p -> p.id() == s.poolId()).mapToInt(p -> p.pending()).findFirst()
                    .orElse(s.pending()));
            stalled.add(m);
        }
        details.put("stalled", stalled);
        return Health.down().withDetails(details).build();
    }
}
