package dev.cmwq.workqueue.actuate;

import dev.cmwq.workqueue.PoolStats;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.WorkqueueStats;
import dev.cmwq.workqueue.Workqueues;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;

/**
 * Micrometer meters for the engine.
 * <ul>
 * <li>Per workqueue (tag {@code name}), Spring's {@code executor.*} names where the concept is the
 * same, so executor dashboards work: {@code executor.completed} (counter), {@code executor.active}
 * (items running), {@code executor.queued} (items queued and not started, inactive ones included), and the timers
 * {@code executor} (run time) and {@code executor.idle} (time from queueing to start).</li>
 * <li>{@code workqueue.*} for what is new: {@code workqueue.failed}, {@code workqueue.cpu.time}
 * (seconds), {@code workqueue.cpu.intensive}, {@code workqueue.cm.wakeups}, {@code workqueue.mayday},
 * {@code workqueue.rescued} (counters), {@code workqueue.max.active} (gauge).</li>
 * <li>Per pool (tags {@code pool}, {@code kind}): {@code workqueue.pool.workers}, {@code .idle},
 * {@code .running}, {@code .pending}.</li>
 * <li>{@code workqueue.watchdog.stalls}: stalls seen (counter).</li>
 * </ul>
 * Counters are function counters over the engine's monotonic statistics. The queues and pools are
 * those that exist when the registry binds; a statistics snapshot is taken at most once per 500 ms
 * per queue, so one scrape reads each queue once.
 */
public class WorkqueueMetrics implements MeterBinder {

    private final Workqueues engine;
    private final WorkqueuesHealthIndicator stalls;
    /** Micrometer holds meter state objects weakly: the snapshots live as long as this binder (a bean). */
    private final List<Snapshot> snapshots = new java.util.concurrent.CopyOnWriteArrayList<>();

    public WorkqueueMetrics(Workqueues engine, WorkqueuesHealthIndicator stalls) {
        this.engine = engine;
        this.stalls = stalls;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        for (Workqueue wq : engine.workqueues()) {
            bindQueue(registry, wq);
        }
        for (PoolStats p : engine.pools()) {
            bindPool(registry, p);
        }
        if (stalls != null) {
            FunctionCounter.builder("workqueue.watchdog.stalls", stalls, WorkqueuesHealthIndicator::stallCount)
                    .description("Worker pool stalls reported by the watchdog").tag("engine", engine.name()).register(registry);
        }
    }

    private void bindQueue(MeterRegistry registry, Workqueue wq) {
        Snapshot s = new Snapshot(wq);
        snapshots.add(s);
        Tags tags = Tags.of("name", wq.name());
        counter(registry, "executor.completed", "tasks", "The approximate total number of tasks that have completed execution",
                tags, s, st -> st.completed());
        gauge(registry, "executor.active", "threads", "The approximate number of threads that are actively executing tasks",
                tags, s, st -> st.inFlight() - st.pending());
        gauge(registry, "executor.queued", "tasks", "The approximate number of tasks that are queued for execution", tags, s,
                st -> st.pending());
        FunctionTimer.builder("executor", s, x -> x.get().runTime().count(), x -> x.get().runTime().totalNanos(),
                TimeUnit.NANOSECONDS).description("Work item run time").tags(tags).register(registry);
        FunctionTimer.builder("executor.idle", s, x -> x.get().queueLatency().count(), x -> x.get().queueLatency().totalNanos(),
                TimeUnit.NANOSECONDS).description("Time from queueing to start").tags(tags).register(registry);
        counter(registry, "workqueue.failed", "tasks", "Work items that threw", tags, s, st -> st.failed());
        FunctionCounter.builder("workqueue.cpu.time", s, x -> x.get().cpuTimeNanos() / 1e9).baseUnit("seconds")
                .description("CPU time of the queue's items").tags(tags).register(registry);
        counter(registry, "workqueue.cpu.intensive", "events", "Items that kept a CPU past cpu_intensive_thresh", tags, s,
                st -> st.cpuIntensive());
        counter(registry, "workqueue.cm.wakeups", "events", "Concurrency-management wakeups (a worker woken because one slept)",
                tags, s, st -> st.cmWakeups());
        counter(registry, "workqueue.mayday", "events", "Mayday calls to the queue's rescuer", tags, s, st -> st.mayday());
        counter(registry, "workqueue.rescued", "tasks", "Items run by the rescuer", tags, s, st -> st.rescued());
        Gauge.builder("workqueue.max.active", wq, Workqueue::maxActive).description("The queue's max_active").tags(tags)
                .register(registry);
    }

    private void bindPool(MeterRegistry registry, PoolStats first) {
        Tags tags = Tags.of("pool", String.valueOf(first.id()), "kind", first.kind());
        int id = first.id();
        poolGauge(registry, "workqueue.pool.workers", "Workers of the pool", tags, id, PoolStats::workers);
        poolGauge(registry, "workqueue.pool.idle", "Idle workers of the pool", tags, id, PoolStats::idle);
        poolGauge(registry, "workqueue.pool.running", "Workers counted as running (concurrency level)", tags, id, PoolStats::running);
        poolGauge(registry, "workqueue.pool.pending", "Items on the pool's worklist, not started", tags, id, PoolStats::pending);
    }

    private void poolGauge(MeterRegistry registry, String name, String description, Tags tags, int id, ToDoubleFunction<PoolStats> f) {
        Gauge.builder(name, engine, e -> {
            List<PoolStats> pools = e.pools();
            for (PoolStats p : pools) {
                if (p.id() == id) {
                    return f.applyAsDouble(p);
                }
            }
            return Double.NaN; // the pool was released (its last unbound queue moved away)
        }).description(description).tags(tags).register(registry);
    }

    private static void counter(MeterRegistry registry, String name, String unit, String description, Tags tags, Snapshot s,
                                ToDoubleFunction<WorkqueueStats> f) {
        FunctionCounter.builder(name, s, x -> f.applyAsDouble(x.get())).baseUnit(unit).description(description).tags(tags)
                .register(registry);
    }

    private static void gauge(MeterRegistry registry, String name, String unit, String description, Tags tags, Snapshot s,
                              ToDoubleFunction<WorkqueueStats> f) {
        Gauge.builder(name, s, x -> Math.max(0, f.applyAsDouble(x.get()))).baseUnit(unit).description(description).tags(tags)
                .register(registry);
    }

    /** The queue's statistics, re-read at most every 500 ms (volatile pair, racy reads are harmless). */
    private static final class Snapshot {
        private final Workqueue wq;
        private volatile WorkqueueStats stats;
        private volatile long at;

        Snapshot(Workqueue wq) {
            this.wq = wq;
        }

        WorkqueueStats get() {
            long now = System.nanoTime();
            WorkqueueStats s = stats;
            if (s == null || now - at > 500_000_000L) {
                s = wq.stats();
                stats = s;
                at = now;
            }
            return s;
        }
    }
}
