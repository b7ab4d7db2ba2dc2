package dev.cmwq.workqueue.actuate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.cmwq.workqueue.CpuMask;
import dev.cmwq.workqueue.PoolStats;
import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.WorkqueueStats;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;

/**
 * {@code GET /actuator/workqueues} and {@code GET /actuator/workqueues/{name}} over real HTTP, checked
 * against the engine bean, before and after real work.
 */
@SpringBootTest(classes = ActuatorTestApp.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "workqueue.cpus=2",
        "management.endpoints.web.exposure.include=workqueues,health,prometheus",
        "workqueue.queues.writeback.flags=unbound,sysfs", "workqueue.queues.writeback.max-active=8",
        "workqueue.queues.percpu.flags=sysfs,highpri", "workqueue.queues.percpu.max-active=16",
        "workqueue.queues.plain.flags=unbound", "workqueue.queues.plain.max-active=4", "workqueue.queues.plain.nice=5",
        "workqueue.queues.plain.cpumask=0x2", "workqueue.queues.plain.affinity-scope=system",
        "workqueue.queues.plain.affinity-strict=true",
        "workqueue.queues.journal.ordered=true", "workqueue.queues.journal.flags=sysfs",
        "workqueue.queues.[ext4.rsv].flags=unbound,sysfs", "workqueue.queues.kebab-name.flags=unbound"})
class WorkqueuesEndpointReadTest extends EndpointHttpSupport {

    private static final Duration LIMIT = Duration.ofSeconds(30);

    @Test
    void engineSectionMatchesTheEngine() throws Exception {
        Resp r = get(BASE);
        assertThat(r.status()).as("%s", r).isEqualTo(200);
        assertThat(r.contentType()).contains("json");
        Map<String, Object> body = r.json();
        assertThat(body).containsOnlyKeys("engine", "cpus", "online_cpus", "unbound_cpumask", "default_affinity_scope",
                "power_efficient", "frozen", "placement", "watchdog_thresh_seconds", "stalled_pools", "worker_threads", "pools",
                "workqueues");
        assertThat(body.get("engine")).isEqualTo(engine.name()).isEqualTo("cmwq");
        assertThat(body.get("cpus")).isEqualTo(engine.cpus()).isEqualTo(2);
        assertThat(body.get("online_cpus")).isEqualTo(engine.onlineCpus().toList()).isEqualTo("0-1");

        Map<String, Object> unbound = map(body.get("unbound_cpumask"));
        assertThat(unbound).containsOnlyKeys("requested", "effective");
        assertThat(unbound.get("requested")).isEqualTo(mask(engine.unboundCpumask()))
                .isEqualTo(Map.of("hex", "3", "list", "0-1"));
        assertThat(unbound.get("effective")).isEqualTo(mask(engine.unboundCpumask().and(engine.onlineCpus())))
                .isEqualTo(Map.of("hex", "3", "list", "0-1"));

        assertThat(body.get("default_affinity_scope")).isEqualTo(engine.defaultAffinityScope().sysfsName()).isEqualTo("cache");
        assertThat(body.get("power_efficient")).isEqualTo(engine.isPowerEfficient()).isEqualTo(false);
        assertThat(body.get("frozen")).isEqualTo(engine.isFrozen()).isEqualTo(false);
        assertThat(body.get("placement")).isEqualTo(engine.placement().description());
        assertThat(body.get("watchdog_thresh_seconds")).isEqualTo(engine.watchdogThreshold().toMillis() / 1000.0).isEqualTo(30.0);
        assertThat(list(body.get("stalled_pools"))).isEqualTo(List.copyOf(engine.stalledPools())).isEmpty();
        // worker threads come and go (idle reaping, on-demand creation): equal to the engine once quiet
        await().atMost(LIMIT).untilAsserted(() -> {
            Object workers = get(BASE).json().get("worker_threads");
            assertThat(workers).isEqualTo(engine.workerThreads());
            assertThat(num(workers)).isGreaterThanOrEqualTo(engine.pools().size()); // each pool keeps a worker
        });
    }

    @Test
    void everyPoolIsListedAsTheEngineSeesIt() throws Exception {
        await().atMost(LIMIT).untilAsserted(() -> {
            List<Object> pools = list(get(BASE).json().get("pools"));
            List<PoolStats> fromEngine = engine.pools();
            assertThat(pools).hasSameSizeAs(fromEngine);
            for (int i = 0; i < pools.size(); i++) {
                Map<String, Object> got = new LinkedHashMap<>(map(pools.get(i)));
                Map<String, Object> want = expectedPool(fromEngine.get(i));
                // last_start is re-derived from two clocks on every read (see lastStartOfAnIdlePoolIsStable):
                // equal within a second, everything else exactly
                Instant gotStart = Instant.parse((String) got.remove("last_start"));
                Instant wantStart = Instant.parse((String) want.remove("last_start"));
                assertThat(Duration.between(gotStart, wantStart).abs()).isLessThan(Duration.ofSeconds(1));
                assertThat(got).isEqualTo(want);
            }
        });
        List<Object> pools = list(get(BASE).json().get("pools"));
        // the per-CPU pools: normal and highpri for each of the 2 CPUs, ids 0..3, then the unbound ones
        for (int i = 0; i < 4; i++) {
            Map<String, Object> p = map(pools.get(i));
            int cpu = i / 2;
            boolean highpri = i % 2 == 1;
            assertThat(p.get("id")).isEqualTo(i);
            assertThat(p.get("kind")).isEqualTo(highpri ? "cpu-highpri" : "cpu");
            assertThat(p.get("cpu")).isEqualTo(cpu);
            assertThat(p.get("cpus")).isEqualTo(mask(CpuMask.of(cpu)));
            assertThat(p.get("nice")).isEqualTo(highpri ? -20 : 0);
            assertThat(p).doesNotContainKeys("pod", "affinity_strict");
        }
        List<Map<String, Object>> unbound = pools.stream().skip(4).map(EndpointHttpSupport::map).toList();
        assertThat(unbound).isNotEmpty().allSatisfy(p -> {
            assertThat(p.get("kind")).isEqualTo("unbound");
            assertThat(p).doesNotContainKey("cpu").containsKeys("cpus", "pod", "affinity_strict");
        });
        for (Map<String, Object> p : allPools(pools)) {
            assertThat(p).containsKeys("workers", "idle", "running", "pending", "last_start", "effective_nice", "enforced");
            assertThat(num(p.get("workers"))).isPositive();
            assertThat(num(p.get("idle"))).isBetween(0L, num(p.get("workers")));
            assertThat(num(p.get("pending"))).isNotNegative();
            assertThat(Instant.parse((String) p.get("last_start"))).isBefore(Instant.now().plusSeconds(60));
        }
        // 'plain' (nice 5, cpumask 0x2 = CPU 1) has a pool of its own
        assertThat(unbound).anySatisfy(p -> {
            assertThat(p.get("nice")).isEqualTo(5);
            assertThat(p.get("cpus")).isEqualTo(Map.of("hex", "2", "list", "1"));
        });
    }

    @Test
    void lastStartOfAnIdlePoolIsStable() throws Exception {
        // 'plain' has an unbound pool of its own (nice 5, CPU 1) and nothing is queued on it in this class
        Map<Object, Object> first = new LinkedHashMap<>();
        for (Object p : list(get(BASE).json().get("pools"))) {
            first.put(map(p).get("id"), map(p).get("last_start"));
        }
        Map<Object, Object> second = new LinkedHashMap<>();
        for (Object p : list(get(BASE).json().get("pools"))) {
            second.put(map(p).get("id"), map(p).get("last_start"));
        }
        Object plainPool = list(get(BASE).json().get("pools")).stream().map(EndpointHttpSupport::map)
                .filter(p -> Integer.valueOf(5).equals(p.get("nice"))).findFirst().orElseThrow().get("id");
        assertThat(second.get(plainPool)).isEqualTo(first.get(plainPool));
    }

    private static List<Map<String, Object>> allPools(List<Object> pools) {
        return pools.stream().map(EndpointHttpSupport::map).toList();
    }

    @Test
    void everyWorkqueueIsListedWithItsAttributes() throws Exception {
        Map<String, Object> queues = map(get(BASE).json().get("workqueues"));
        List<Workqueue> fromEngine = engine.workqueues();
        assertThat(new ArrayList<>(queues.keySet())).isEqualTo(fromEngine.stream().map(Workqueue::name).toList());
        assertThat(queues.keySet()).containsSubsequence("events", "events_highpri", "events_long", "events_unbound",
                "events_freezable", "events_power_efficient", "events_freezable_pwr_efficient").contains("writeback", "percpu",
                "plain", "journal");
        for (Workqueue wq : fromEngine) {
            Map<String, Object> q = new LinkedHashMap<>(map(queues.get(wq.name())));
            Map<String, Object> stats = map(q.remove("stats"));
            assertThat(q).as(wq.name()).isEqualTo(expectedQueue(wq));
            assertThat(stats).as(wq.name()).containsOnlyKeys("total", "completed", "failed", "in_flight", "active", "inactive",
                    "pending", "cpu_time_ms", "cpu_intensive", "cm_wakeups", "repatriated", "mayday", "rescued", "queue_latency",
                    "run_time");
            assertThat(map(stats.get("run_time"))).containsOnlyKeys("count", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms");
        }

        // and the configured values themselves, not only "what the engine says"
        Map<String, Object> writeback = map(queues.get("writeback"));
        assertThat(writeback.get("flags")).isEqualTo(List.of("WQ_UNBOUND", "WQ_SYSFS"));
        assertThat(writeback).containsEntry("per_cpu", false).containsEntry("ordered", false).containsEntry("sysfs", true)
                .containsEntry("max_active", 8).containsEntry("nice", 0).containsEntry("affinity_scope", "cache")
                .containsEntry("affinity_strict", false).containsEntry("enforced", wq("writeback").placementEnforced());
        assertThat(writeback.get("cpumask")).isEqualTo(Map.of("hex", "3", "list", "0-1"));
        assertThat(writeback.get("effective_cpumask")).isEqualTo(Map.of("hex", "3", "list", "0-1"));
        assertThat(writeback).doesNotContainKey("alias");

        Map<String, Object> percpu = map(queues.get("percpu"));
        assertThat(percpu.get("flags")).isEqualTo(List.of("WQ_HIGHPRI", "WQ_SYSFS"));
        assertThat(percpu).containsEntry("per_cpu", true).containsEntry("sysfs", true).containsEntry("max_active", 16)
                .containsEntry("nice", -20).doesNotContainKeys("affinity_scope", "affinity_strict", "effective_cpumask");
        assertThat(percpu.get("cpumask")).isEqualTo(Map.of("hex", "3", "list", "0-1"));

        Map<String, Object> plain = map(queues.get("plain"));
        assertThat(plain.get("flags")).isEqualTo(List.of("WQ_UNBOUND"));
        assertThat(plain).containsEntry("per_cpu", false).containsEntry("sysfs", false).containsEntry("max_active", 4)
                .containsEntry("nice", 5).containsEntry("affinity_scope", "system").containsEntry("affinity_strict", true);
        assertThat(plain.get("cpumask")).isEqualTo(Map.of("hex", "2", "list", "1"));
        assertThat(plain.get("effective_cpumask")).isEqualTo(Map.of("hex", "2", "list", "1"));

        Map<String, Object> journal = map(queues.get("journal"));
        assertThat(journal.get("flags")).isEqualTo(List.of("WQ_UNBOUND", "WQ_SYSFS", "__WQ_ORDERED"));
        assertThat(journal).containsEntry("per_cpu", false).containsEntry("ordered", true).containsEntry("max_active", 1);

        Map<String, Object> events = map(queues.get("events"));
        assertThat(events).containsEntry("alias", "system_wq").containsEntry("per_cpu", true).containsEntry("sysfs", false)
                .containsEntry("max_active", 256);
        assertThat(map(queues.get("events_unbound"))).containsEntry("alias", "system_unbound_wq").containsEntry("max_active", 512);
    }

    @Test
    void statisticsReflectRealWork() throws Exception {
        Workqueue wb = wq("writeback");
        // Histogram counts are exact only for items timed one by one: a backlog queued while the
        // queue's last timed item ran under 10 us is timed one in 16 (the engine's sampled timing,
        // whose counts are estimates). Items that burn CPU for milliseconds, after one such item,
        // are all timed, whatever ran on this shared queue before.
        long completedBefore = wb.stats().completed();
        assertThat(wb.queue(new Work("stat-warm", ActuatorTestSupport::burn))).isTrue();
        await().atMost(LIMIT).until(() -> wb.stats().completed() > completedBefore && wb.stats().inFlight() == 0);
        Map<String, Object> before = map(map(get(BASE).json().get("workqueues")).get("writeback"));
        long total0 = num(map(before.get("stats")).get("total"));
        long completed0 = num(map(before.get("stats")).get("completed"));
        long failed0 = num(map(before.get("stats")).get("failed"));
        long runCount0 = num(map(map(before.get("stats")).get("run_time")).get("count"));
        assertThat(total0).isEqualTo(wb.stats().started());

        AtomicInteger ran = new AtomicInteger();
        int items = 12;
        for (int i = 0; i < items; i++) {
            assertThat(wb.queue(new Work("stat-" + i, () -> {
                ActuatorTestSupport.burn();
                ran.incrementAndGet();
            }))).isTrue();
        }
        assertThat(wb.queue(new Work("stat-fails", () -> {
            ActuatorTestSupport.burn();
            throw new IllegalStateException("this item fails on purpose (statistics test)");
        }))).isTrue();

        await().atMost(LIMIT).untilAsserted(() -> {
            Map<String, Object> stats = map(map(map(get(BASE).json().get("workqueues")).get("writeback")).get("stats"));
            assertThat(num(stats.get("total"))).isEqualTo(total0 + items + 1);
            assertThat(num(stats.get("completed"))).isEqualTo(completed0 + items);
            assertThat(num(stats.get("failed"))).isEqualTo(failed0 + 1);
            assertThat(num(stats.get("in_flight"))).isZero();
        });
        assertThat(ran).hasValue(items);

        // quiet now: the whole statistics block equals the engine's, in both views
        Map<String, Object> one = get(BASE + "/writeback").json();
        WorkqueueStats s = wb.stats();
        assertThat(normalizeNumbers(one.get("stats"))).isEqualTo(expectedStats(s));
        assertThat(s.completed()).isEqualTo(completed0 + items);
        assertThat(num(map(map(one.get("stats")).get("run_time")).get("count"))).isEqualTo(runCount0 + items + 1);
        assertThat(num(map(map(one.get("stats")).get("queue_latency")).get("count"))).isGreaterThanOrEqualTo(runCount0 + items + 1);
        assertThat(normalizeNumbers(map(map(get(BASE).json().get("workqueues")).get("writeback")).get("stats")))
                .isEqualTo(expectedStats(wb.stats()));
    }

    @Test
    void inFlightItemsShowAsActiveInactiveAndBusyPools() throws Exception {
        Workqueue journal = wq("journal");
        Workqueue percpu = wq("percpu");
        WorkqueueStats base = journal.stats();
        Instant cpu1HighpriBefore = Instant.parse((String) poolById(3).get("last_start"));
        CountDownLatch release = new CountDownLatch(1);
        Runnable block = () -> {
            try {
                if (!release.await(60, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("never released");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        try {
            for (int i = 0; i < 3; i++) {
                assertThat(journal.queue(new Work("journal-block-" + i, block))).isTrue();
            }
            assertThat(percpu.queueOn(1, new Work("percpu-block", block))).isTrue();

            // the ordered queue runs one, holds two back; the view matches the engine exactly meanwhile
            await().atMost(LIMIT).untilAsserted(() -> {
                Map<String, Object> stats = map(get(BASE + "/journal").json().get("stats"));
                assertThat(num(stats.get("total"))).isEqualTo(base.started() + 1);
                assertThat(num(stats.get("in_flight"))).isEqualTo(3);
                assertThat(num(stats.get("active"))).isEqualTo(1);
                assertThat(num(stats.get("inactive"))).isEqualTo(2);
                assertThat(num(stats.get("pending"))).isEqualTo(2);
                assertThat(normalizeNumbers(stats)).isEqualTo(expectedStats(journal.stats()));
            });
            // CPU 1's highpri pool (id 3) runs the percpu item: a busy worker, a newer last start
            await().atMost(LIMIT).untilAsserted(() -> {
                Map<String, Object> pool = poolById(3);
                assertThat(pool).containsEntry("kind", "cpu-highpri").containsEntry("cpu", 1);
                assertThat(num(pool.get("idle"))).isLessThan(num(pool.get("workers")));
                assertThat(Instant.parse((String) pool.get("last_start"))).isAfter(cpu1HighpriBefore);
                assertThat(num(map(get(BASE + "/percpu").json().get("stats")).get("in_flight"))).isEqualTo(1);
            });
            // some unbound pool has a busy worker (the journal's item)
            assertThat(list(get(BASE).json().get("pools")).stream().map(EndpointHttpSupport::map)
                    .filter(p -> "unbound".equals(p.get("kind")))).anySatisfy(p ->
                    assertThat(num(p.get("idle"))).isLessThan(num(p.get("workers"))));
        } finally {
            release.countDown();
        }
        await().atMost(LIMIT).untilAsserted(() -> {
            Map<String, Object> stats = map(get(BASE + "/journal").json().get("stats"));
            assertThat(num(stats.get("completed"))).isEqualTo(base.completed() + 3);
            assertThat(num(stats.get("in_flight"))).isZero();
            assertThat(num(stats.get("inactive"))).isZero();
        });
    }

    private Map<String, Object> poolById(int id) throws Exception {
        return list(get(BASE).json().get("pools")).stream().map(EndpointHttpSupport::map)
                .filter(p -> p.get("id").equals(id)).findFirst().orElseThrow();
    }

    @Test
    void oneQueueByNameIsTheListingsEntry() throws Exception {
        Map<String, Object> all = map(get(BASE).json().get("workqueues"));
        for (Workqueue wq : engine.workqueues()) {
            Resp r = get(BASE + "/" + wq.name());
            assertThat(r.status()).as("%s: %s", wq.name(), r).isEqualTo(200);
            assertThat(r.contentType()).contains("json");
            Map<String, Object> one = r.json();
            assertThat(one).containsKey("stats");
            one.remove("stats");
            assertThat(one).as(wq.name()).isEqualTo(expectedQueue(wq));
            Map<String, Object> listed = new LinkedHashMap<>(map(all.get(wq.name())));
            listed.remove("stats");
            assertThat(one).as(wq.name()).isEqualTo(listed);
        }
    }

    @Test
    void namesWithDotsAndDashesAreSelectable() throws Exception {
        assertThat(engine.workqueue("ext4.rsv")).isPresent();
        assertThat(engine.workqueue("kebab-name")).isPresent();
        for (String name : List.of("ext4.rsv", "kebab-name")) {
            Resp r = get(BASE + "/" + name);
            assertThat(r.status()).as("%s: %s", name, r).isEqualTo(200);
            assertThat(r.json()).containsEntry("name", name);
        }
    }

    @Test
    void anUnknownNameIs404WithAnErrorBody() throws Exception {
        for (String name : List.of("nope", "Writeback", "writeback2", "system_wq2")) {
            Resp r = get(BASE + "/" + name);
            assertThat(r.status()).as("%s: %s", name, r).isEqualTo(404);
            assertThat(r.json()).containsEntry("error", "no workqueue named '" + name + "'");
        }
    }

    @Test
    void kernelAliasesResolveToTheSystemQueue() throws Exception {
        Map<String, String> aliases = new LinkedHashMap<>();
        for (Workqueue wq : engine.workqueues()) {
            if (wq.alias() != null) {
                aliases.put(wq.alias(), wq.name());
            }
        }
        assertThat(aliases).containsEntry("system_wq", "events").containsEntry("system_highpri_wq", "events_highpri")
                .containsEntry("system_long_wq", "events_long").containsEntry("system_unbound_wq", "events_unbound")
                .containsEntry("system_freezable_wq", "events_freezable")
                .containsEntry("system_power_efficient_wq", "events_power_efficient")
                .containsEntry("system_freezable_power_efficient_wq", "events_freezable_pwr_efficient").hasSize(7);
        Map<String, Object> listing = map(get(BASE).json().get("workqueues"));
        for (Map.Entry<String, String> e : aliases.entrySet()) {
            // the alias answers with the system queue, under its real name and naming the alias
            Map<String, Object> byAlias = queueWithoutStats(e.getKey());
            assertThat(byAlias).containsEntry("name", e.getValue()).containsEntry("alias", e.getKey());
            assertThat(byAlias).isEqualTo(queueWithoutStats(e.getValue()));
            // the listing is keyed by the real name only: no queue is listed twice
            assertThat(listing).containsKey(e.getValue()).doesNotContainKey(e.getKey());
        }
    }
}
