package dev.cmwq.workqueue.actuate;

import static dev.cmwq.workqueue.actuate.ActuatorTestSupport.await;
import static dev.cmwq.workqueue.actuate.ActuatorTestSupport.awaitLatch;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.Workqueues;
import dev.cmwq.workqueue.WqFlag;
import dev.cmwq.workqueue.actuate.ActuatorTestSupport.Scrape;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.binder.jvm.ExecutorServiceMetrics;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * "Spring's standard executor.* meters where the concept is the same, so existing executor dashboards
 * work": checked against what Micrometer itself registers for a {@link ThreadPoolExecutor}
 * ({@link ExecutorServiceMetrics#monitor}: the gauges and counter of the pool, and the
 * {@code executor}/{@code executor.idle} timers of the timed wrapper), meter by meter (name, type,
 * base unit, tag keys) and as a Prometheus server sees them (families, {@code # TYPE}, sample
 * names). The differences are pinned, so that a change on either side is noticed.
 */
class ExecutorMetricsParityTest {

    /** The concepts both have. */
    static final Set<String> SHARED = Set.of("executor.completed", "executor.active", "executor.queued", "executor",
            "executor.idle");
    /** What Micrometer registers for a thread pool that a workqueue has no counterpart for (thread-pool sizing). */
    static final Set<String> THREAD_POOL_ONLY = Set.of("executor.pool.size", "executor.pool.core", "executor.pool.max",
            "executor.queue.remaining");

    Workqueues engine;
    Workqueue queue;
    ThreadPoolExecutor tpe;
    ExecutorService timedTpe;

    final SimpleMeterRegistry ours = new SimpleMeterRegistry();
    final SimpleMeterRegistry theirs = new SimpleMeterRegistry();
    final PrometheusMeterRegistry oursProm = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    final PrometheusMeterRegistry theirsProm = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);

    @BeforeEach
    void bind() {
        engine = Workqueues.builder().cpus(2).name("parity").build();
        queue = engine.alloc("parity_q", EnumSet.of(WqFlag.UNBOUND), 4);
        // each side bound once, to a composite of a simple and a Prometheus registry
        CompositeMeterRegistry oursBoth = new CompositeMeterRegistry().add(ours).add(oursProm);
        new WorkqueueMetrics(engine, null).bindTo(oursBoth);

        tpe = new ThreadPoolExecutor(2, 2, 1, TimeUnit.MINUTES, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "parity-tpe");
            t.setDaemon(true);
            t.setUncaughtExceptionHandler((th, e) -> { // a task that throws ends its thread; keep the log quiet
            });
            return t;
        });
        CompositeMeterRegistry theirsBoth = new CompositeMeterRegistry().add(theirs).add(theirsProm);
        timedTpe = ExecutorServiceMetrics.monitor(theirsBoth, tpe, "parity_q");
    }

    @AfterEach
    void close() throws InterruptedException {
        tpe.shutdownNow();
        tpe.awaitTermination(30, TimeUnit.SECONDS);
        engine.close();
    }

    /** Runs {@code n} tasks on both, so that every timer has samples. */
    void runOnBoth(int n) {
        CountDownLatch ranOurs = new CountDownLatch(n);
        CountDownLatch ranTheirs = new CountDownLatch(n);
        for (int i = 0; i < n; i++) {
            queue.queue(new Work("parity-" + i, ranOurs::countDown));
            timedTpe.execute(ranTheirs::countDown);
        }
        awaitLatch(ranOurs);
        awaitLatch(ranTheirs);
        await().until(() -> ours.get("executor.completed").tag("name", "parity_q").functionCounter().count() == n
                && theirs.get("executor.completed").tag("name", "parity_q").functionCounter().count() == n);
    }

    static Map<String, Meter.Id> ids(MeterRegistry r, String tagName, String tagValue) {
        Map<String, Meter.Id> out = new TreeMap<>();
        for (Meter m : r.getMeters()) {
            if (tagValue.equals(m.getId().getTag(tagName))) {
                out.put(m.getId().getName(), m.getId());
            }
        }
        return out;
    }

    static Set<String> tagKeys(Meter.Id id) {
        Set<String> keys = new TreeSet<>();
        for (Tag t : id.getTags()) {
            keys.add(t.getKey());
        }
        return keys;
    }

    @Test
    void theSharedMetersHaveMicrometersNamesTypesUnitsAndTags() {
        runOnBoth(8);
        Map<String, Meter.Id> o = ids(ours, "name", "parity_q");
        Map<String, Meter.Id> t = ids(theirs, "name", "parity_q");
        System.out.println("ThreadPoolExecutor (Micrometer " + MeterRegistry.class.getPackage().getImplementationVersion() + "): "
                + t.values().stream().map(id -> id.getName() + " " + id.getType() + " " + id.getBaseUnit() + " " + tagKeys(id)).toList());
        System.out.println("workqueue: " + o.values().stream().map(id -> id.getName() + " " + id.getType() + " " + id.getBaseUnit()
                + " " + tagKeys(id)).toList());

        // what a thread pool has: the shared concepts plus its sizing
        Set<String> expectedTheirs = new TreeSet<>(SHARED);
        expectedTheirs.addAll(THREAD_POOL_ONLY);
        assertThat(t.keySet()).as("Micrometer's meters for a ThreadPoolExecutor").isEqualTo(expectedTheirs);
        assertThat(o.keySet()).containsAll(SHARED).doesNotContainAnyElementsOf(THREAD_POOL_ONLY);
        // everything else of ours is workqueue.*
        assertThat(o.keySet()).allMatch(n -> SHARED.contains(n) || n.startsWith("workqueue."));

        for (String name : SHARED) {
            Meter.Id mine = o.get(name);
            Meter.Id micrometer = t.get(name);
            assertThat(mine.getType()).as("type of %s", name).isEqualTo(micrometer.getType());
            assertThat(mine.getBaseUnit()).as("base unit of %s", name).isEqualTo(micrometer.getBaseUnit());
            assertThat(tagKeys(mine)).as("tag keys of %s", name).isEqualTo(tagKeys(micrometer));
        }
    }

    @Test
    void thePrometheusFamiliesOfTheSharedMetersMatchButForTheTimersMax() {
        runOnBoth(8);
        Scrape o = new Scrape(oursProm.scrape());
        Scrape t = new Scrape(theirsProm.scrape());
        Map<String, String> oTypes = familiesOf(o);
        Map<String, String> tTypes = familiesOf(t);
        System.out.println("ThreadPoolExecutor families: " + tTypes + "\nworkqueue families: " + oTypes);
        Set<String> oNames = sampleNames(o);
        Set<String> tNames = sampleNames(t);
        System.out.println("ThreadPoolExecutor samples: " + tNames + "\nworkqueue samples: " + oNames);

        // the families a dashboard queries, with the same # TYPE
        for (String family : Set.of("executor_completed_tasks_total", "executor_active_threads", "executor_queued_tasks",
                "executor_seconds", "executor_idle_seconds")) {
            assertThat(oTypes).as("# TYPE %s", family).containsEntry(family, tTypes.get(family));
        }
        assertThat(tTypes).containsEntry("executor_completed_tasks_total", "counter").containsEntry("executor_seconds", "summary");
        for (String sample : Set.of("executor_completed_tasks_total", "executor_active_threads", "executor_queued_tasks",
                "executor_seconds_count", "executor_seconds_sum", "executor_idle_seconds_count", "executor_idle_seconds_sum")) {
            assertThat(oNames).as("sample %s", sample).contains(sample);
            assertThat(tNames).as("sample %s", sample).contains(sample);
        }
        // The difference: Micrometer's timers are Timers, which also publish the window maximum;
        // ours are FunctionTimers (count and total from the engine's histograms), which have none.
        // A dashboard panel on executor_seconds_max / executor_idle_seconds_max shows nothing for a workqueue.
        Set<String> onlyTheirs = new TreeSet<>(tNames);
        onlyTheirs.removeAll(oNames);
        assertThat(onlyTheirs).containsExactlyInAnyOrder("executor_seconds_max", "executor_idle_seconds_max",
                "executor_pool_size_threads", "executor_pool_core_threads", "executor_pool_max_threads",
                "executor_queue_remaining_tasks");
    }

    /**
     * Same meaning under the same name: a ThreadPoolExecutor counts a task that threw as completed
     * ({@code getCompletedTaskCount}), and so does a workqueue's {@code executor.completed}; the
     * workqueue also counts it in {@code workqueue.failed}.
     */
    @Test
    void aTaskThatThrowsIsCompletedForBothAndFailedForAWorkqueue() {
        CountDownLatch ranOurs = new CountDownLatch(1);
        CountDownLatch ranTheirs = new CountDownLatch(1);
        queue.queue(new Work("parity-fails", () -> {
            ranOurs.countDown();
            throw new IllegalStateException("planned failure (test)");
        }));
        timedTpe.execute(() -> {
            ranTheirs.countDown();
            throw new IllegalStateException("planned failure (test)");
        });
        awaitLatch(ranOurs);
        awaitLatch(ranTheirs);
        await().until(() -> theirs.get("executor.completed").tag("name", "parity_q").functionCounter().count() == 1);
        await().until(() -> ours.get("workqueue.failed").tag("name", "parity_q").functionCounter().count() == 1);
        await().until(() -> ours.get("executor.completed").tag("name", "parity_q").functionCounter().count() == 1);
        assertThat(ours.get("executor").tag("name", "parity_q").functionTimer().count()).isEqualTo(1);
        assertThat(theirs.get("executor").tag("name", "parity_q").timer().count()).isEqualTo(1);
    }

    /** family name to # TYPE, for the executor_* families. */
    static Map<String, String> familiesOf(Scrape s) {
        Map<String, String> out = new TreeMap<>();
        s.types.forEach((k, v) -> {
            if (k.startsWith("executor")) {
                out.put(k, v);
            }
        });
        return out;
    }

    /** The names of the executor_* samples tagged name="parity_q". */
    static Set<String> sampleNames(Scrape s) {
        Set<String> out = new TreeSet<>();
        for (ActuatorTestSupport.Sample x : s.samples) {
            if (x.name().startsWith("executor") && "parity_q".equals(x.labels().get("name"))) {
                out.add(x.name());
            }
        }
        return out;
    }
}
