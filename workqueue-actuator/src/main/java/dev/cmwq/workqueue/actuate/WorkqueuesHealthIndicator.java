package dev.cmwq.workqueue.actuate;

import dev.cmwq.workqueue.PoolStall;
import dev.cmwq.workqueue.PoolStats;
import dev.cmwq.workqueue.Workqueues;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;

/**
 * The {@code workqueues} health contributor, fed by the engine's watchdog through
 * {@link WorkqueueStallTracker}: DOWN, naming each stalled pool (for how long, how many items
 * wait), while any pool is stalled; UP when every pool makes progress.
 */
public class WorkqueuesHealthIndicator implements HealthIndicator {

    private final WorkqueueStallTracker tracker;

    public WorkqueuesHealthIndicator(WorkqueueStallTracker tracker) {
        this.tracker = tracker;
    }

    @Override
    public Health health() {
        Workqueues engine = tracker.engine();
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("engine", engine.name());
        details.put("watchdogThreshold", engine.watchdogThreshold().toString());
        List<WorkqueueStallTracker.Stall> current = tracker.current();
        List<PoolStats> pools = engine.pools();
        if (current.isEmpty()) {
            details.put("pools", pools.size());
            return Health.up().withDetails(details).build();
        }
        List<Map<String, Object>> stalled = new ArrayList<>();
        long now = System.nanoTime();
        for (WorkqueueStallTracker.Stall seen : current) {
            PoolStall s = seen.report();
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("pool", s.pool());
            m.put("stuckFor", s.stuckFor().plusNanos(now - seen.reportedAtNanos()).truncatedTo(ChronoUnit.MILLIS).toString());
            m.put("pending", pools.stream().filter(p -> p.id() == s.poolId()).mapToInt(PoolStats::pending).findFirst()
                    .orElse(s.pending()));
            stalled.add(m);
        }
        details.put("stalled", stalled);
        return Health.down().withDetails(details).build();
    }
}
