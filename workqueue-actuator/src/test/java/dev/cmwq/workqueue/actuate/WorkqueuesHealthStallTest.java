package dev.cmwq.workqueue.actuate;

import static dev.cmwq.workqueue.actuate.ActuatorTestSupport.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.PoolStall;
import dev.cmwq.workqueue.Workqueues;
import dev.cmwq.workqueue.actuate.ActuatorTestSupport.Http;
import dev.cmwq.workqueue.actuate.ActuatorTestSupport.Response;
import dev.cmwq.workqueue.actuate.ActuatorTestSupport.Scrape;
import dev.cmwq.workqueue.actuate.ActuatorTestSupport.Stall;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.annotation.Import;
import org.springframework.test.annotation.DirtiesContext;
import tools.jackson.databind.JsonNode;

/**
 * The {@code workqueues} health contributor over HTTP with a real lockup: the per-CPU pool of CPU 0
 * runs an item that blocks without the blocking hook while a second item waits behind it (the
 * sleep monitor is off, {@code workqueue.monitor-interval=0}, so the pool never learns that its
 * running worker sleeps). The watchdog (threshold 1 s, checking every 250 ms) reports the stall;
 * the contributor is DOWN naming the pool, for how long, how many items wait; the overall health
 * is DOWN; the liveness probe is not affected, since the contributor is not in the liveness group
 * by default (see {@link WorkqueuesLivenessGroupTest} for how to add it). Releasing the blocker
 * lets the pool progress and the contributor is UP again. Each stall and recovery is also an
 * application event, and the stall is counted by {@code workqueue.watchdog.stalls}.
 */
@SpringBootTest(classes = ActuatorTestApp.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "workqueue.cpus=2", "workqueue.watchdog.threshold=1s", "workqueue.monitor-interval=0",
        "management.endpoints.web.exposure.include=health,prometheus,workqueues",
        "management.endpoint.health.show-details=always", "management.endpoint.health.probes.enabled=true",
        "spring.lifecycle.timeout-per-shutdown-phase=5s"})
@Import(StallEventRecorder.class)
@DirtiesContext
class WorkqueuesHealthStallTest {

    static final Duration THRESHOLD = Duration.ofSeconds(1);
    static final String CPU0_POOL = "cpus=0 flags=0x0 nice=0";

    @LocalServerPort
    int port;

    @Autowired
    Workqueues engine;

    @Autowired
    StallEventRecorder recorder;

    @Autowired
    MeterRegistry registry;

    Http http;

    @BeforeEach
    void healthyToStartWith() {
        http = new Http(port);
        // a previous test's recovery may still be on its way
        await().until(() -> http.get("/actuator/health/workqueues").status() == 200 && engine.stalledPools().isEmpty());
        recorder.seen.clear();
    }

    @Test
    void upWhileEveryPoolProgressesDownNamingTheStalledPoolWhileItIsStuckUpAgainWhenItRecovers() {
        Response up = http.get("/actuator/health/workqueues");
        assertThat(up.status()).isEqualTo(200);
        JsonNode upJson = up.json();
        assertThat(upJson.path("status").asString()).isEqualTo("UP");
        assertThat(upJson.path("details").path("engine").asString()).isEqualTo(engine.name());
        assertThat(upJson.path("details").path("watchdogThreshold").asString()).isEqualTo("PT1S");
        assertThat(upJson.path("details").path("pools").asInt()).isEqualTo(engine.pools().size());
        assertThat(upJson.path("details").has("stalled")).isFalse();
        assertThat(http.get("/actuator/health").status()).isEqualTo(200);

        int pending;
        Stall stall = Stall.provoke(engine);
        try {
            Response down = await().until(() -> http.get("/actuator/health/workqueues"), r -> r.status() == 503);
            JsonNode json = down.json();
            assertThat(json.path("status").asString()).isEqualTo("DOWN");
            assertThat(json.path("details").path("engine").asString()).isEqualTo(engine.name());
            JsonNode stalled = json.path("details").path("stalled");
            assertThat(stalled.isArray()).as("details.stalled in %s", down.body()).isTrue();
            assertThat(stalled.size()).as("one stalled pool in %s", down.body()).isEqualTo(1);
            JsonNode pool = stalled.get(0);
            assertThat(pool.path("pool").asString()).isEqualTo(CPU0_POOL);
            Duration stuckFor = Duration.parse(pool.path("stuckFor").asString());
            assertThat(stuckFor).as("stuckFor").isGreaterThan(THRESHOLD);
            pending = pool.path("pending").asInt();
            assertThat(pending).as("pending (the item behind the blocker)").isEqualTo(1);
            assertThat(stall.behindRan.getCount()).as("the item behind has not run").isEqualTo(1);

            // the contributor makes the application's health DOWN
            Response overall = http.get("/actuator/health");
            assertThat(overall.status()).isEqualTo(503);
            assertThat(overall.json().path("status").asString()).isEqualTo("DOWN");
            assertThat(overall.json().path("components").path("workqueues").path("status").asString()).isEqualTo("DOWN");
            assertThat(overall.json().path("components").path("workqueues").path("details").path("stalled").get(0)
                    .path("pool").asString()).isEqualTo(CPU0_POOL);

            // ... but not the liveness probe: the contributor is not in the liveness group by default.
            // To restart the application on a lockup, add it to the group:
            //   management.endpoint.health.group.liveness.include=livenessState,workqueues
            // (proved in WorkqueuesLivenessGroupTest)
            Response liveness = http.get("/actuator/health/liveness");
            assertThat(liveness.status()).as("liveness during the stall: %s", liveness.body()).isEqualTo(200);
            assertThat(liveness.json().path("status").asString()).isEqualTo("UP");
            assertThat(liveness.body()).doesNotContain("workqueues");
            Response readiness = http.get("/actuator/health/readiness");
            assertThat(readiness.status()).as("readiness during the stall: %s", readiness.body()).isEqualTo(200);
            assertThat(readiness.body()).doesNotContain("workqueues");

            // stuckFor is how long it has been stuck, not the age at detection: it grows while DOWN
            Response later = await().until(() -> http.get("/actuator/health/workqueues"),
                    r -> r.status() == 503 && Duration.parse(r.json().path("details").path("stalled").get(0).path("stuckFor").asString())
                            .compareTo(stuckFor) > 0);
            assertThat(later.json().path("details").path("stalled").get(0).path("pool").asString()).isEqualTo(CPU0_POOL);
            assertThat(http.get("/actuator/health/liveness").status()).isEqualTo(200);

            stall.releaseAndAwaitProgress();
        } finally {
            stall.close();
        }
        Response recovered = await().until(() -> http.get("/actuator/health/workqueues"), r -> r.status() == 200);
        assertThat(recovered.json().path("status").asString()).isEqualTo("UP");
        assertThat(recovered.json().path("details").has("stalled")).isFalse();
        await().until(() -> http.get("/actuator/health").status() == 200);
        assertThat(http.get("/actuator/health/liveness").status()).isEqualTo(200);
    }

    @Test
    void eachStallAndEachRecoveryIsPublishedAsAnApplicationEventOnTheWatchdogThread() {
        int poolId = ActuatorTestSupport.cpu0Pool(engine).id();
        for (int round = 1; round <= 2; round++) {
            Stall stall = Stall.provoke(engine);
            try {
                int stalls = 2 * round - 1;
                await().until(() -> recorder.seen.size() == stalls);
                WorkqueueStallEvent e = recorder.events().get(stalls - 1);
                assertThat(e.isStalled()).isTrue();
                assertThat(e.getSource()).isSameAs(engine);
                PoolStall s = e.getStall();
                assertThat(s.poolId()).isEqualTo(poolId);
                assertThat(s.pool()).isEqualTo(CPU0_POOL);
                assertThat(s.pending()).isEqualTo(1);
                assertThat(s.stuckFor()).isGreaterThan(THRESHOLD);
                assertThat(s.report()).startsWith("BUG: workqueue lockup - pool " + CPU0_POOL + " stuck for ")
                        .contains("stall-blocker").contains("pending: stall-behind");
                assertThat(e.toString()).startsWith("stall of " + CPU0_POOL);
                stall.releaseAndAwaitProgress();
            } finally {
                stall.close();
            }
            int both = 2 * round;
            await().until(() -> recorder.seen.size() == both);
            WorkqueueStallEvent r = recorder.events().get(both - 1);
            assertThat(r.isStalled()).isFalse();
            assertThat(r.getStall().poolId()).isEqualTo(poolId);
            assertThat(r.getStall().pool()).isEqualTo(CPU0_POOL);
            assertThat(r.getStall().stuckFor()).as("a recovery reports the whole stall").isGreaterThanOrEqualTo(THRESHOLD);
            assertThat(r.toString()).startsWith("recovery of " + CPU0_POOL);
        }
        // exactly: stall, recovery, stall, recovery; one of each per stall, all for that pool, on the watchdog's thread
        List<Boolean> kinds = new ArrayList<>();
        for (WorkqueueStallEvent e : recorder.events()) {
            kinds.add(e.isStalled());
            assertThat(e.getStall().poolId()).isEqualTo(poolId);
        }
        assertThat(kinds).containsExactly(true, false, true, false);
        assertThat(recorder.seen).allSatisfy(s -> assertThat(s.thread()).isEqualTo(engine.name() + "-watchdog"));
    }

    @Test
    void stallsAreCountedAndThePoolGaugesShowTheStuckPool() {
        PoolStatsKey cpu0 = new PoolStatsKey(String.valueOf(ActuatorTestSupport.cpu0Pool(engine).id()), "cpu");
        double before = http.scrape().require("workqueue_watchdog_stalls_total", "engine", engine.name());
        assertThat(registry.get("workqueue.watchdog.stalls").tag("engine", engine.name()).functionCounter().count()).isEqualTo(before);

        Stall stall = Stall.provoke(engine);
        try {
            Scrape during = await().until(http::scrape,
                    s -> s.require("workqueue_watchdog_stalls_total", "engine", engine.name()) == before + 1
                            && s.require("workqueue_pool_pending", "pool", cpu0.pool(), "kind", cpu0.kind()) == 1);
            // the blocker counts as running (the pool never learned that it sleeps), its neighbour waits
            assertThat(during.require("workqueue_pool_running", "pool", cpu0.pool(), "kind", cpu0.kind())).isEqualTo(1);
            assertThat(during.require("workqueue_pool_workers", "pool", cpu0.pool(), "kind", cpu0.kind())).isGreaterThanOrEqualTo(1);
            assertThat(during.types).containsEntry("workqueue_watchdog_stalls_total", "counter");
            assertThat(registry.get("workqueue.watchdog.stalls").tag("engine", engine.name()).functionCounter().count())
                    .isEqualTo(before + 1);
            assertThat(registry.get("workqueue.pool.pending").tags("pool", cpu0.pool(), "kind", cpu0.kind()).gauge().value())
                    .isEqualTo(1);
            stall.releaseAndAwaitProgress();
        } finally {
            stall.close();
        }
        Scrape after = await().until(http::scrape, s -> s.require("workqueue_pool_pending", "pool", cpu0.pool(), "kind", cpu0.kind()) == 0
                && s.require("workqueue_pool_running", "pool", cpu0.pool(), "kind", cpu0.kind()) == 0);
        // a count of stalls seen: the recovery does not take it back
        assertThat(after.require("workqueue_watchdog_stalls_total", "engine", engine.name())).isEqualTo(before + 1);
        await().until(() -> engine.stalledPools().isEmpty());
        assertThat(http.scrape().require("workqueue_watchdog_stalls_total", "engine", engine.name())).isEqualTo(before + 1);
    }

    record PoolStatsKey(String pool, String kind) {
    }
}
