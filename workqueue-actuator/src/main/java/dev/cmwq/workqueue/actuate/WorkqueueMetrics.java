package dev.cmwq.workqueue.actuate;

import dev.cmwq.workqueue.DelayedWork;
import dev.cmwq.workqueue.PoolStats;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.WorkqueueStats;
import dev.cmwq.workqueue.Workqueues;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;
import org.springframework.beans.factory.DisposableBean;

/**
 * Micrometer meters for the engine.
 * <ul>
 * <li>Per workqueue (tag {@code name}), the names Micrometer's {@code ExecutorServiceMetrics}
 * gives a thread pool, where the concept is the same, so executor dashboards work:
 * {@code executor.completed} (items that finished, including those that threw, as a
 * {@code ThreadPoolExecutor} counts them), {@code executor.active} (items running),
 * {@code executor.queued} (items queued and not started, inactive ones included), and the timers
 * {@code executor} (run time) and {@code executor.idle} (time from queueing to start).</li>
 * <li>{@code workqueue.*} for what is new: {@code workqueue.failed}, {@code workqueue.cpu.time}
 * (seconds), {@code workqueue.cpu.intensive}, {@code workqueue.cm.wakeups}, {@code workqueue.mayday},
 * {@code workqueue.rescued} (counters), {@code workqueue.max.active} (gauge).</li>
 * <li>Per pool (tags {@code pool}, {@code kind}): {@code workqueue.pool.workers}, {@code .idle},
 * {@code .running}, {@code .pending}.</li>
 * <li>{@code workqueue.watchdog.stalls}: stalls seen (counter).</li>
 * </ul>
 * Counters are function counters over the engine's monotonic statistics. Queues and pools that
 * appear later (a queue allocated at run time, a pool made by a change of attributes) get their
 * meters at the next {@link #resync()}, and those that go away lose theirs: the endpoint resyncs
 * after each write, and a housekeeping item on {@code system_power_efficient_wq} does every
 * {@link #RESYNC_INTERVAL}. A statistics snapshot is taken at most once per 500 ms per queue.
 *
 * <p>{@code bound} (per registry: the meters of each queue and pool) is guarded by this object's
 * monitor; resyncs are rare.
 */
public class WorkqueueMetrics implements MeterBinder, DisposableBean {

    /** How often queues and pools that appeared or went away are picked up without a write. */
    public static final Duration RESYNC_INTERVAL = Duration.ofSeconds(10);

    private final Workqueues engine;
    private final WorkqueueStallTracker stalls;
    private final Map<MeterRegistry, Bound> bound = new IdentityHashMap<>();
    private final DelayedWork housekeeping;
    private volatile boolean stopped;

    public WorkqueueMetrics(Workqueues engine, WorkqueueStallTracker stalls) {
        this.engine = engine;
        this.stalls = stalls;
        this.housekeeping = new DelayedWork("workqueue-metrics-resync", this::periodicResync);
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        synchronized (this) {
            bound.computeIfAbsent(registry, r -> new Bound());
            if (stalls != null) {
                FunctionCounter.builder("workqueue.watchdog.stalls", stalls, WorkqueueStallTracker::stallCount)
                        .description("Worker pool stalls reported by the watchdog").tag("engine", engine.name()).register(registry);
            }
        }
        resync();
        rearm();
    }

    /** Adds the meters of new queues and pools, removes those of queues and pools that are gone. */
    public void resync() {
        List<Workqueue> queues = engine.workqueues();
        List<PoolStats> pools = engine.pools();
        synchronized (this) {
            for (Map.Entry<MeterRegistry, Bound> e : bound.entrySet()) {
                MeterRegistry registry = e.getKey();
                Bound b = e.getValue();
                Set<Workqueue> liveQueues = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
                for (Workqueue wq : queues) {
                    liveQueues.add(wq);
                    b.queues.computeIfAbsent(wq, q -> bindQueue(registry, q));
                }
                b.queues.entrySet().removeIf(q -> {
                    if (liveQueues.contains(q.getKey())) {
                        return false;
                    }
                    q.getValue().forEach(registry::remove);
                    return true;
                });
                Set<Integer> livePools = new HashSet<>();
                for (PoolStats p : pools) {
                    livePools.add(p.id());
                    b.pools.computeIfAbsent(p.id(), id -> bindPool(registry, p));
                }
                b.pools.entrySet().removeIf(p -> {
                    if (livePools.contains(p.getKey())) {
                        return false;
                    }
                    p.getValue().forEach(registry::remove);
                    return true;
                });
            }
        }
    }

    private void periodicResync() {
        resync();
        rearm();
    }

    private void rearm() {
        if (stopped || engine.isShutdown()) {
            return;
        }
        try {
            engine.systemPowerEfficientWq().queueDelayed(housekeeping, RESYNC_INTERVAL);
        } catch (IllegalStateException shuttingDown) {
            // the engine is closing: no more housekeeping
        }
    }

    @Override
    public void destroy() {
        stopped = true;
        if (!engine.isShutdown()) {
            housekeeping.cancelSync();
        }
    }

    private List<Meter> bindQueue(MeterRegistry registry, Workqueue wq) {
        Snapshot s = new Snapshot(wq);
        Tags tags = Tags.of("name", wq.name());
        List<Meter> m = new ArrayList<>();
        m.add(counter(registry, "executor.completed", "tasks", "The approximate total number of tasks that have completed execution",
                tags, s, st -> st.completed() + st.failed()));
        m.add(gauge(registry, "executor.active", "threads", "The approximate number of threads that are actively executing tasks",
                tags, s, st -> st.inFlight() - st.pending()));
        m.add(gauge(registry, "executor.queued", "tasks", "The approximate number of tasks that are queued for execution", tags, s,
                st -> st.pending()));
        m.add(FunctionTimer.builder("executor", s, x -> x.get().runTime().count(), x -> x.get().runTime().totalNanos(),
                TimeUnit.NANOSECONDS).description("Work item run time").tags(tags).register(registry));
        m.add(FunctionTimer.builder("executor.idle", s, x -> x.get().queueLatency().count(), x -> x.get().queueLatency().totalNanos(),
                TimeUnit.NANOSECONDS).description("Time from queueing to start").tags(tags).register(registry));
        m.add(counter(registry, "workqueue.failed", "tasks", "Work items that threw", tags, s, st -> st.failed()));
        m.add(FunctionCounter.builder("workqueue.cpu.time", s, x -> x.get().cpuTimeNanos() / 1e9).baseUnit("seconds")
                .description("CPU time of the queue's items").tags(tags).register(registry));
        m.add(counter(registry, "workqueue.cpu.intensive", "events", "Items that kept a CPU past cpu_intensive_thresh", tags, s,
                st -> st.cpuIntensive()));
        m.add(counter(registry, "workqueue.cm.wakeups", "events",
                "Concurrency-management wakeups (a worker woken because one slept)", tags, s, st -> st.cmWakeups()));
        m.add(counter(registry, "workqueue.mayday", "events", "Mayday calls to the queue's rescuer", tags, s, st -> st.mayday()));
        m.add(counter(registry, "workqueue.rescued", "tasks", "Items run by the rescuer", tags, s, st -> st.rescued()));
        m.add(Gauge.builder("workqueue.max.active", s, x -> x.wq.maxActive()).description("The queue's max_active").tags(tags)
                .strongReference(true).register(registry));
        return m;
    }

    private List<Meter> bindPool(MeterRegistry registry, PoolStats first) {
        Tags tags = Tags.of("pool", String.valueOf(first.id()), "kind", first.kind());
        int id = first.id();
        List<Meter> m = new ArrayList<>();
        m.add(poolGauge(registry, "workqueue.pool.workers", "Workers of the pool", tags, id, PoolStats::workers));
        m.add(poolGauge(registry, "workqueue.pool.idle", "Idle workers of the pool", tags, id, PoolStats::idle));
        m.add(poolGauge(registry, "workqueue.pool.running", "Workers counted as running (concurrency level)", tags, id,
                PoolStats::running));
        m.add(poolGauge(registry, "workqueue.pool.pending", "Items on the pool's worklist, not started", tags, id,
                PoolStats::pending));
        return m;
    }

    private Meter poolGauge(MeterRegistry registry, String name, String description, Tags tags, int id, ToDoubleFunction<PoolStats> f) {
        return Gauge.builder(name, engine, e -> {
            for (PoolStats p : e.pools()) {
                if (p.id() == id) {
                    return f.applyAsDouble(p);
                }
            }
            return Double.NaN; // released since the last resync
        }).description(description).tags(tags).register(registry);
    }

    private static Meter counter(MeterRegistry registry, String name, String unit, String description, Tags tags, Snapshot s,
                                 ToDoubleFunction<WorkqueueStats> f) {
        return FunctionCounter.builder(name, s, x -> f.applyAsDouble(x.get())).baseUnit(unit).description(description).tags(tags)
                .register(registry);
    }

    private static Meter gauge(MeterRegistry registry, String name, String unit, String description, Tags tags, Snapshot s,
                               ToDoubleFunction<WorkqueueStats> f) {
        return Gauge.builder(name, s, x -> Math.max(0, f.applyAsDouble(x.get()))).baseUnit(unit).description(description).tags(tags)
                .strongReference(true).register(registry);
    }

    /** One registry's meters, by queue (identity) and by pool id. */
    private static final class Bound {
        final Map<Workqueue, List<Meter>> queues = new IdentityHashMap<>();
        final Map<Integer, List<Meter>> pools = new HashMap<>();
    }

    /**
     * The queue's statistics, re-read at most every 500 ms. Micrometer holds function meters'
     * state weakly; the strong-reference gauges of the queue keep this alive while its meters are
     * registered. Racy reads of the volatile pair are harmless (at worst one extra read).
     */
    private static final class Snapshot {
        final Workqueue wq;
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
