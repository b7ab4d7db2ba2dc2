package dev.cmwq.workqueue.actuate;

import static dev.cmwq.workqueue.actuate.ActuatorTestSupport.await;
import static dev.cmwq.workqueue.actuate.ActuatorTestSupport.awaitLatch;
import static dev.cmwq.workqueue.actuate.ActuatorTestSupport.burn;
import static dev.cmwq.workqueue.actuate.ActuatorTestSupport.holdUntilReleased;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.PoolStats;
import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.Workqueues;
import dev.cmwq.workqueue.actuate.ActuatorTestSupport.Http;
import dev.cmwq.workqueue.actuate.ActuatorTestSupport.Scrape;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.annotation.DirtiesContext;

/**
 * The meters as a Prometheus server sees them: the real scrape text of {@code /actuator/prometheus},
 * parsed, after real work items ran, and the same meters read from the {@link MeterRegistry} bean.
 * Each test has a queue of its own, so the counts do not depend on the order the tests run in.
 */
@SpringBootTest(classes = ActuatorTestApp.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "workqueue.cpus=2",
        "workqueue.queues.jobs.flags=unbound", "workqueue.queues.jobs.max-active=4",
        "workqueue.queues.single.flags=unbound", "workqueue.queues.single.max-active=1",
        "workqueue.queues.again.flags=unbound", "workqueue.queues.again.max-active=4",
        "management.endpoints.web.exposure.include=health,prometheus,workqueues",
        "spring.lifecycle.timeout-per-shutdown-phase=5s"})
@DirtiesContext
class WorkqueueMetricsScrapeTest {

    /** The monotonic families: all must be Prometheus counters. */
    static final List<String> COUNTERS = List.of("executor_completed_tasks_total", "workqueue_failed_tasks_total",
            "workqueue_cpu_time_seconds_total", "workqueue_cpu_intensive_events_total", "workqueue_cm_wakeups_events_total",
            "workqueue_mayday_events_total", "workqueue_rescued_tasks_total");

    @LocalServerPort
    int port;

    @Autowired
    Workqueues engine;

    @Autowired
    MeterRegistry registry;

    /** Queues {@code n} items on {@code wq}, every {@code failEvery}-th of them throws; returns how many throw. */
    static int runItems(Workqueue wq, int n, int failEvery) {
        CountDownLatch ran = new CountDownLatch(n);
        int failures = 0;
        for (int i = 0; i < n; i++) {
            boolean fail = (i + 1) % failEvery == 0;
            failures += fail ? 1 : 0;
            assertThat(wq.queue(new Work(wq.name() + "-item-" + i, () -> {
                burn();
                ran.countDown();
                if (fail) {
                    throw new IllegalStateException("planned failure (test)");
                }
            }))).isTrue();
        }
        awaitLatch(ran);
        return failures;
    }

    @Test
    void countersAndTimersOfAUserQueueInTheScrapeAndInTheRegistry() {
        Http http = new Http(port);
        Workqueue jobs = engine.workqueue("jobs").orElseThrow();
        Scrape idle = http.scrape();
        assertThat(idle.require("executor_completed_tasks_total", "name", "jobs")).isZero();
        assertThat(idle.require("workqueue_max_active", "name", "jobs")).isEqualTo(4);

        int n = 24;
        int failures = runItems(jobs, n, 6);
        assertThat(failures).isEqualTo(4);
        // the latch counts down inside the items: the statistics are updated just after (and read at most every 500 ms)
        Scrape s = await().until(http::scrape, x -> x.require("executor_completed_tasks_total", "name", "jobs") == n
                && x.require("workqueue_failed_tasks_total", "name", "jobs") == failures
                && x.require("executor_seconds_count", "name", "jobs") == n);
        // an excerpt for the documentation: the families of queue "jobs" with their HELP and TYPE, and one pool
        System.out.println("---- scrape excerpt ----\n" + String.join("\n", s.text.lines()
                .filter(l -> l.contains("name=\"jobs\"") || l.contains("pool=\"0\"")
                        || (l.startsWith("# ") && (l.contains(" executor") || l.contains(" workqueue_"))))
                .toList()) + "\n---- end of excerpt ----");

        // executor.completed counts every finished item, as a ThreadPoolExecutor does; those that threw are also workqueue.failed
        assertThat(s.require("executor_completed_tasks_total", "name", "jobs")).isEqualTo(n);
        assertThat(s.require("workqueue_failed_tasks_total", "name", "jobs")).isEqualTo(failures);
        // the timers: run time and queueing-to-start, every item that started, failed or not
        assertThat(s.require("executor_seconds_count", "name", "jobs")).isEqualTo(n);
        assertThat(s.require("executor_seconds_sum", "name", "jobs")).isPositive();
        assertThat(s.require("executor_idle_seconds_count", "name", "jobs")).isEqualTo(n);
        assertThat(s.require("executor_idle_seconds_sum", "name", "jobs")).isGreaterThanOrEqualTo(0);
        // CPU accounting is on by default: the items burnt CPU
        assertThat(s.require("workqueue_cpu_time_seconds_total", "name", "jobs")).isPositive();
        assertThat(s.require("workqueue_cpu_time_seconds_total", "name", "jobs"))
                .as("CPU time is at most the run time (2 CPUs, 4 max_active)")
                .isLessThanOrEqualTo(s.require("executor_seconds_sum", "name", "jobs") * 1.05 + 0.01);
        // nothing for the rescuer, unbound items are never CPU-intensive or woken by concurrency management
        assertThat(s.require("workqueue_mayday_events_total", "name", "jobs")).isZero();
        assertThat(s.require("workqueue_rescued_tasks_total", "name", "jobs")).isZero();
        assertThat(s.require("workqueue_cpu_intensive_events_total", "name", "jobs")).isGreaterThanOrEqualTo(0);
        assertThat(s.require("workqueue_cm_wakeups_events_total", "name", "jobs")).isGreaterThanOrEqualTo(0);
        assertThat(s.require("executor_active_threads", "name", "jobs")).isZero();
        assertThat(s.require("executor_queued_tasks", "name", "jobs")).isZero();
        assertThat(s.require("workqueue_max_active", "name", "jobs")).isEqualTo(4);

        // real counters: the monotonic counts are TYPE counter; the others are gauges and summaries
        for (String counter : COUNTERS) {
            assertThat(s.types).as("# TYPE of %s", counter).containsEntry(counter, "counter");
        }
        assertThat(s.types).containsEntry("executor_active_threads", "gauge").containsEntry("executor_queued_tasks", "gauge")
                .containsEntry("workqueue_max_active", "gauge").containsEntry("executor_seconds", "summary")
                .containsEntry("executor_idle_seconds", "summary");

        // the same through the MeterRegistry bean
        FunctionCounter completed = registry.get("executor.completed").tag("name", "jobs").functionCounter();
        assertThat(completed.count()).isEqualTo(n);
        assertThat(registry.get("workqueue.failed").tag("name", "jobs").functionCounter().count()).isEqualTo(failures);
        assertThat(registry.get("workqueue.cpu.time").tag("name", "jobs").functionCounter().count()).isPositive();
        FunctionTimer run = registry.get("executor").tag("name", "jobs").functionTimer();
        assertThat(run.count()).isEqualTo(n);
        assertThat(run.totalTime(TimeUnit.NANOSECONDS)).isPositive();
        assertThat(registry.get("executor.idle").tag("name", "jobs").functionTimer().count()).isEqualTo(n);
        for (String name : List.of("executor.completed", "workqueue.failed", "workqueue.cpu.time", "workqueue.cpu.intensive",
                "workqueue.cm.wakeups", "workqueue.mayday", "workqueue.rescued")) {
            assertThat(registry.get(name).tag("name", "jobs").meter().getId().getType()).as(name).isEqualTo(Meter.Type.COUNTER);
        }
        for (String name : List.of("executor.active", "executor.queued", "workqueue.max.active")) {
            assertThat(registry.get(name).tag("name", "jobs").meter().getId().getType()).as(name).isEqualTo(Meter.Type.GAUGE);
        }
    }

    @Test
    void countersOnlyGrow() {
        Http http = new Http(port);
        Workqueue again = engine.workqueue("again").orElseThrow();
        int f1 = runItems(again, 10, 5);
        Scrape first = await().until(http::scrape, x -> x.require("executor_completed_tasks_total", "name", "again") == 10
                && x.require("workqueue_failed_tasks_total", "name", "again") == f1);
        double cpu1 = first.require("workqueue_cpu_time_seconds_total", "name", "again");
        int f2 = runItems(again, 10, 2);
        Scrape second = await().until(http::scrape, x -> x.require("executor_completed_tasks_total", "name", "again") == 20
                && x.require("workqueue_failed_tasks_total", "name", "again") == f1 + f2
                && x.require("executor_seconds_count", "name", "again") == 20);
        assertThat(second.require("workqueue_cpu_time_seconds_total", "name", "again")).isGreaterThan(cpu1);
        assertThat(second.require("executor_idle_seconds_count", "name", "again")).isEqualTo(20);
        assertThat(second.require("executor_seconds_sum", "name", "again"))
                .isGreaterThan(first.require("executor_seconds_sum", "name", "again"));
    }

    @Test
    void activeAndQueuedGaugesShowABlockedItemAndTheItemsWaitingBehindIt() {
        Http http = new Http(port);
        Workqueue single = engine.workqueue("single").orElseThrow();
        int k = 3;
        CountDownLatch in = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch rest = new CountDownLatch(k);
        try {
            single.queue(new Work("single-blocker", () -> {
                in.countDown();
                holdUntilReleased(release);
            }));
            awaitLatch(in);
            for (int i = 0; i < k; i++) {
                single.queue(new Work("single-waiter-" + i, rest::countDown));
            }
            // max_active 1: one runs, k wait (as inactive items; the gauge counts them as queued)
            Scrape s = await().until(http::scrape, x -> x.require("executor_active_threads", "name", "single") == 1
                    && x.require("executor_queued_tasks", "name", "single") == k);
            assertThat(s.require("executor_completed_tasks_total", "name", "single")).isZero();
            assertThat(s.require("workqueue_max_active", "name", "single")).isEqualTo(1);
            await().until(() -> registry.get("executor.active").tag("name", "single").gauge().value() == 1
                    && registry.get("executor.queued").tag("name", "single").gauge().value() == k);
            assertThat(rest.getCount()).isEqualTo(k);
        } finally {
            release.countDown();
        }
        awaitLatch(rest);
        Scrape after = await().until(http::scrape, x -> x.require("executor_active_threads", "name", "single") == 0
                && x.require("executor_queued_tasks", "name", "single") == 0
                && x.require("executor_completed_tasks_total", "name", "single") == k + 1);
        assertThat(after.require("executor_seconds_count", "name", "single")).isEqualTo(k + 1);
        // the waiters waited for the blocker: their queueing-to-start time is in executor.idle
        assertThat(after.require("executor_idle_seconds_count", "name", "single")).isEqualTo(k + 1);
        assertThat(after.require("executor_idle_seconds_sum", "name", "single")).isPositive();
    }

    /**
     * Spring Boot binds Micrometer's executor meters to its own {@code applicationTaskExecutor} (a
     * ThreadPoolTaskExecutor here: {@code workqueue.task-executor.queue} is not set). The queues'
     * meters join the same Prometheus families with the same labels, so a dashboard's
     * {@code executor_active_threads{name=~"$executor"}} lists both side by side.
     */
    @Test
    void theQueuesJoinTheFamiliesOfBootsOwnExecutorMetricsWithTheSameLabels() {
        Scrape s = new Http(port).scrape();
        List<ActuatorTestSupport.Sample> boot = s.samples.stream().filter(x -> x.name().startsWith("executor")
                && "applicationTaskExecutor".equals(x.labels().get("name"))).toList();
        assertThat(boot).as("Boot's executor meters for applicationTaskExecutor").isNotEmpty();
        java.util.Set<String> shared = new java.util.TreeSet<>();
        for (ActuatorTestSupport.Sample b : boot) {
            List<ActuatorTestSupport.Sample> ours = s.find(b.name(), "name", "jobs");
            if (!ours.isEmpty()) {
                shared.add(b.name());
                assertThat(ours.get(0).labels().keySet()).as("labels of %s", b.name()).isEqualTo(b.labels().keySet());
            }
        }
        assertThat(shared).containsExactlyInAnyOrder("executor_active_threads", "executor_completed_tasks_total",
                "executor_queued_tasks");
        // Boot's thread-pool sizing families have no workqueue counterpart
        assertThat(boot).extracting(ActuatorTestSupport.Sample::name).contains("executor_pool_size_threads",
                "executor_pool_core_threads", "executor_pool_max_threads", "executor_queue_remaining_tasks");
        assertThat(s.find("executor_pool_size_threads", "name", "jobs")).isEmpty();
    }

    @Test
    void everyPoolHasItsGaugesTaggedWithPoolAndKind() {
        Http http = new Http(port);
        Scrape s = http.scrape();
        List<PoolStats> pools = engine.pools();
        assertThat(pools).extracting(PoolStats::kind).contains("cpu", "cpu-highpri", "unbound");
        for (PoolStats p : pools) {
            String id = String.valueOf(p.id());
            for (String gauge : List.of("workqueue_pool_workers", "workqueue_pool_idle", "workqueue_pool_running",
                    "workqueue_pool_pending")) {
                assertThat(s.value(gauge, "pool", id, "kind", p.kind())).as("%s of pool %s (%s)", gauge, id, p.kind()).isPresent();
            }
            assertThat(s.require("workqueue_pool_workers", "pool", id, "kind", p.kind())).isGreaterThanOrEqualTo(1);
            assertThat(s.require("workqueue_pool_idle", "pool", id, "kind", p.kind()))
                    .isLessThanOrEqualTo(s.require("workqueue_pool_workers", "pool", id, "kind", p.kind()));
        }
        assertThat(s.find("workqueue_pool_workers")).hasSize(pools.size());
        for (String gauge : List.of("workqueue_pool_workers", "workqueue_pool_idle", "workqueue_pool_running",
                "workqueue_pool_pending")) {
            assertThat(s.types).containsEntry(gauge, "gauge");
        }
        // 2 CPUs: a normal and a highpri pool each
        assertThat(pools.stream().filter(p -> p.kind().equals("cpu")).count()).isEqualTo(2);
        assertThat(pools.stream().filter(p -> p.kind().equals("cpu-highpri")).count()).isEqualTo(2);
        assertThat(registry.get("workqueue.pool.workers").tags("kind", "unbound").gauges()).isNotEmpty();
    }
}
