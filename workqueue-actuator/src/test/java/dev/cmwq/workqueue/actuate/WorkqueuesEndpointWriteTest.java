package dev.cmwq.workqueue.actuate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.cmwq.workqueue.AffinityScope;
import dev.cmwq.workqueue.CpuMask;
import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.WorkqueueAttrs;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.test.annotation.DirtiesContext;

/**
 * {@code POST /actuator/workqueues/{name}} over real HTTP as the OPS user, with the endpoint's access
 * unrestricted: what is accepted changes the engine; what is refused is a 400 naming the key, the
 * value, the error and what is allowed, and changes nothing (neither the queue's descriptor nor the
 * engine's state).
 *
 * <p>Each test starts from the configured state (reset through the engine bean); the context is
 * not reused by other classes.
 */
@SpringBootTest(classes = ActuatorTestApp.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "workqueue.cpus=2",
        "management.endpoints.web.exposure.include=workqueues,health,prometheus",
        "management.endpoint.workqueues.access=unrestricted",
        "workqueue.queues.writeback.flags=unbound,sysfs", "workqueue.queues.writeback.max-active=8",
        "workqueue.queues.percpu.flags=sysfs", "workqueue.queues.percpu.max-active=16",
        "workqueue.queues.plain.flags=unbound", "workqueue.queues.plain.max-active=4",
        "workqueue.queues.journal.ordered=true", "workqueue.queues.journal.flags=sysfs"})
@DirtiesContext(classMode = DirtiesContext.ClassMode.AFTER_CLASS)
class WorkqueuesEndpointWriteTest extends EndpointHttpSupport {

    private static final Duration LIMIT = Duration.ofSeconds(30);
    private static final String WB = BASE + "/writeback";

    @BeforeEach
    void resetToTheConfiguredState() {
        wq("writeback").applyAttrs(WorkqueueAttrs.defaults());
        wq("writeback").setMaxActive(8);
        wq("journal").applyAttrs(WorkqueueAttrs.defaults());
        wq("percpu").setMaxActive(16);
        assertThat(engine.unboundCpumask()).isEqualTo(CpuMask.all(2));
        assertThat(wq("plain").maxActive()).isEqualTo(4);
    }

    // ---- accepted ---------------------------------------------------------------------------

    @Test
    void maxActiveAsNumberOrStringApplies() throws Exception {
        Workqueue wb = wq("writeback");
        for (Object[] c : new Object[][] {{"3", 3}, {"\"5\"", 5}, {"\" 6 \"", 6}, {"512", 512}, {"\"1\"", 1}, {"8", 8}}) {
            Resp r = postAsOps(WB, "{\"max_active\": " + c[0] + "}");
            assertThat(r.status()).as("max_active %s: %s", c[0], r).isEqualTo(200);
            assertThat(r.json()).containsEntry("name", "writeback").containsEntry("max_active", c[1]);
            assertThat(wb.maxActive()).isEqualTo(c[1]);
            assertThat(queueWithoutStats("writeback")).containsEntry("max_active", c[1]);
        }
        assertThat(engine.unboundMaxActiveLimit()).isEqualTo(512); // max(512, 4 x 2 CPUs)
    }

    @Test
    void niceAsNumberOrStringApplies() throws Exception {
        Workqueue wb = wq("writeback");
        for (Object[] c : new Object[][] {{"5", 5}, {"\"-3\"", -3}, {"-20", -20}, {"\"19\"", 19}, {"0", 0}}) {
            Resp r = postAsOps(WB, "{\"nice\": " + c[0] + "}");
            assertThat(r.status()).as("nice %s: %s", c[0], r).isEqualTo(200);
            assertThat(r.json()).containsEntry("nice", c[1]);
            assertThat(wb.attrs().nice()).isEqualTo(c[1]);
            assertThat(wb.maxActive()).isEqualTo(8); // untouched
        }
    }

    @Test
    void niceMovesTheQueueToAPoolWithThatNice() throws Exception {
        assertThat(postAsOps(WB, "{\"nice\": 7}").status()).isEqualTo(200);
        List<Map<String, Object>> pools = list(get(BASE).json().get("pools")).stream().map(EndpointHttpSupport::map).toList();
        assertThat(pools).anySatisfy(p -> {
            assertThat(p).containsEntry("kind", "unbound").containsEntry("nice", 7);
            assertThat(p.get("cpus")).isEqualTo(Map.of("hex", "3", "list", "0-1"));
        });
        // and items run there
        long done = wq("writeback").stats().completed();
        CountDownLatch ran = new CountDownLatch(3);
        for (int i = 0; i < 3; i++) {
            assertThat(wq("writeback").queue(new Work("nice7-" + i, ran::countDown))).isTrue();
        }
        await().atMost(LIMIT).untilAsserted(() ->
                assertThat(num(map(get(WB).json().get("stats")).get("completed"))).isEqualTo(done + 3));
        assertThat(ran.getCount()).isZero();
    }

    @Test
    void cpumaskInHexOrListFormApplies() throws Exception {
        Workqueue wb = wq("writeback");
        Object[][] cases = {
                {"1", CpuMask.of(0)},        // hex: CPU 0
                {"0x2", CpuMask.of(1)},      // hex with prefix: CPU 1
                {"1-1", CpuMask.of(1)},      // list
                {"0,1", CpuMask.of(0, 1)},   // list (groups not 8 hex digits)
                {"3", CpuMask.of(0, 1)},     // hex
                {"0-3", CpuMask.of(0, 1)},   // CPUs beyond the engine's 2 are dropped
        };
        for (Object[] c : cases) {
            Resp r = postAsOps(WB, "{\"cpumask\": \"" + c[0] + "\"}");
            assertThat(r.status()).as("cpumask %s: %s", c[0], r).isEqualTo(200);
            CpuMask want = (CpuMask) c[1];
            assertThat(wb.attrs().cpumask()).as("cpumask %s", c[0]).isEqualTo(want);
            assertThat(wb.effectiveCpumask()).isEqualTo(want);
            Map<String, Object> q = queueWithoutStats("writeback");
            assertThat(q.get("cpumask")).isEqualTo(mask(want));
            assertThat(q.get("effective_cpumask")).isEqualTo(mask(want));
        }
    }

    @Test
    void affinityScopeAndStrictApply() throws Exception {
        Workqueue wb = wq("writeback");
        for (Object[] c : new Object[][] {{"system", AffinityScope.SYSTEM}, {"SMT", AffinityScope.SMT}, {"cpu", AffinityScope.CPU},
                {"numa", AffinityScope.NUMA}, {"cache", AffinityScope.CACHE}}) {
            Resp r = postAsOps(WB, "{\"affinity_scope\": \"" + c[0] + "\"}");
            assertThat(r.status()).as("scope %s: %s", c[0], r).isEqualTo(200);
            assertThat(wb.attrs().affinityScope()).isEqualTo(c[1]);
            assertThat(r.json()).containsEntry("affinity_scope", ((AffinityScope) c[1]).sysfsName());
        }
        for (Object[] c : new Object[][] {{"true", true}, {"\"0\"", false}, {"1", true}, {"\"false\"", false}, {"\"yes\"", true},
                {"false", false}}) {
            Resp r = postAsOps(WB, "{\"affinity_strict\": " + c[0] + "}");
            assertThat(r.status()).as("strict %s: %s", c[0], r).isEqualTo(200);
            assertThat(wb.attrs().affinityStrict()).as("strict %s", c[0]).isEqualTo(c[1]);
            assertThat(r.json()).containsEntry("affinity_strict", c[1]);
        }
    }

    @Test
    void everyKeyAtOnceApplies() throws Exception {
        Resp r = postAsOps(WB, "{\"max_active\": 6, \"nice\": \"2\", \"cpumask\": \"0x1\", \"affinity_scope\": \"cpu\","
                + " \"affinity_strict\": true}");
        assertThat(r.status()).as("%s", r).isEqualTo(200);
        Workqueue wb = wq("writeback");
        assertThat(wb.maxActive()).isEqualTo(6);
        assertThat(wb.attrs()).isEqualTo(new WorkqueueAttrs(2, CpuMask.of(0), AffinityScope.CPU, true));
        Map<String, Object> answer = r.json();
        answer.remove("stats");
        assertThat(answer).isEqualTo(expectedQueue(wb));
        assertThat(queueWithoutStats("writeback")).isEqualTo(expectedQueue(wb));
    }

    @Test
    void aLowerThenHigherMaxActiveGovernsRealItems() throws Exception {
        Workqueue wb = wq("writeback");
        assertThat(postAsOps(WB, "{\"max_active\": 1}").status()).isEqualTo(200);
        CountDownLatch release = new CountDownLatch(1);
        long started0 = wb.stats().started();
        long completed0 = wb.stats().completed();
        try {
            for (int i = 0; i < 3; i++) {
                assertThat(wb.queue(new Work("ma-" + i, () -> awaitQuietly(release)))).isTrue();
            }
            await().atMost(LIMIT).untilAsserted(() -> {
                Map<String, Object> s = map(get(WB).json().get("stats"));
                assertThat(num(s.get("total"))).isEqualTo(started0 + 1);
                assertThat(num(s.get("active"))).isEqualTo(1);
                assertThat(num(s.get("inactive"))).isEqualTo(2);
            });
            // raising max_active lets the waiting items start
            assertThat(postAsOps(WB, "{\"max_active\": \"3\"}").status()).isEqualTo(200);
            await().atMost(LIMIT).untilAsserted(() -> {
                Map<String, Object> s = map(get(WB).json().get("stats"));
                assertThat(num(s.get("total"))).isEqualTo(started0 + 3);
                assertThat(num(s.get("inactive"))).isZero();
            });
        } finally {
            release.countDown();
        }
        await().atMost(LIMIT).untilAsserted(() ->
                assertThat(num(map(get(WB).json().get("stats")).get("completed"))).isEqualTo(completed0 + 3));
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            if (!latch.await(60, TimeUnit.SECONDS)) {
                throw new IllegalStateException("never released");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void boundSysfsQueueTakesMaxActiveOnly() throws Exception {
        Workqueue percpu = wq("percpu");
        Resp ok = postAsOps(BASE + "/percpu", "{\"max_active\": 32}");
        assertThat(ok.status()).as("%s", ok).isEqualTo(200);
        assertThat(percpu.maxActive()).isEqualTo(32);
        assertThat(postAsOps(BASE + "/percpu", "{\"max_active\": \"512\"}").status()).isEqualTo(200);
        assertThat(percpu.maxActive()).isEqualTo(512);
        assertThat(postAsOps(BASE + "/percpu", "{\"max_active\": 16}").status()).isEqualTo(200);
        assertThat(percpu.maxActive()).isEqualTo(16);

        for (String body : List.of("{\"nice\": 5}", "{\"cpumask\": \"1\"}", "{\"affinity_scope\": \"system\"}",
                "{\"affinity_strict\": true}", "{\"max_active\": 7, \"nice\": 1}")) {
            String key = body.contains("nice") ? "nice" : body.contains("cpumask") ? "cpumask"
                    : body.contains("affinity_scope") ? "affinity_scope" : "affinity_strict";
            Map<String, Object> answer = refused("percpu", body);
            assertThat(answer).containsEntry("workqueue", "percpu").containsEntry("key", key)
                    .containsEntry("allowed", "max_active");
            assertThat((String) answer.get("error")).contains("per-CPU");
            assertThat(percpu.maxActive()).isEqualTo(16);
        }
    }

    @Test
    void boundMaxActiveLimitIs512() throws Exception {
        for (String v : List.of("513", "0", "-1", "\"100000\"")) {
            Map<String, Object> answer = refused("percpu", "{\"max_active\": " + v + "}");
            assertThat(answer).containsEntry("key", "max_active").containsEntry("value", v.replace("\"", ""))
                    .containsEntry("allowed", "1..512");
        }
    }

    @Test
    void nonSysfsQueuesAreReadOnly() throws Exception {
        for (String name : List.of("plain", "events", "system_wq", "events_unbound", "system_unbound_wq")) {
            for (String body : List.of("{\"max_active\": 2}", "{\"nice\": 1}", "{\"cpumask\": \"1\"}",
                    "{\"affinity_scope\": \"system\"}", "{\"affinity_strict\": true}")) {
                Map<String, Object> answer = refused(name, body);
                assertThat((String) answer.get("error")).as("%s %s", name, body).contains("WQ_SYSFS");
                assertThat((String) answer.get("allowed")).isNotBlank();
            }
        }
        assertThat(wq("plain").maxActive()).isEqualTo(4);
        assertThat(wq("events").maxActive()).isEqualTo(256);
        assertThat(wq("events_unbound").attrs().nice()).isZero();
    }

    @Test
    void nonSysfsRefusalOfASystemQueueGivesAdviceThatWorks() throws Exception {
        for (String name : List.of("events", "system_wq")) {
            Map<String, Object> answer = refused(name, "{\"max_active\": 2}");
            assertThat((String) answer.get("allowed")).doesNotContain("workqueue.queues.");
        }
    }

    @Test
    void orderedQueueRefusesMaxActiveButTakesAttributes() throws Exception {
        Workqueue journal = wq("journal");
        for (String v : List.of("2", "1", "\"1\"", "256")) {
            Map<String, Object> answer = refused("journal", "{\"max_active\": " + v + "}");
            assertThat(answer).containsEntry("key", "max_active").containsEntry("value", v.replace("\"", ""));
            assertThat((String) answer.get("error")).contains("ordered");
        }
        // a refused max_active takes a valid attribute in the same request down with it
        refused("journal", "{\"max_active\": 1, \"nice\": 3}");
        assertThat(journal.attrs().nice()).isZero();
        assertThat(journal.maxActive()).isEqualTo(1);
        // attributes alone are fine: ordered queues are unbound
        Resp ok = postAsOps(BASE + "/journal", "{\"nice\": 3, \"cpumask\": \"0x2\"}");
        assertThat(ok.status()).as("%s", ok).isEqualTo(200);
        assertThat(journal.attrs().nice()).isEqualTo(3);
        assertThat(journal.attrs().cpumask()).isEqualTo(CpuMask.of(1));
        assertThat(journal.maxActive()).isEqualTo(1);
        assertThat(journal.isOrdered()).isTrue();
    }

    // ---- refused: bad values ----------------------------------------------------------------

    static Stream<Arguments> badValues() {
        String limit = "1..512";
        return Stream.of(
                Arguments.of("{\"max_active\": 0}", "max_active", "0", limit),
                Arguments.of("{\"max_active\": -1}", "max_active", "-1", limit),
                Arguments.of("{\"max_active\": 513}", "max_active", "513", limit),
                Arguments.of("{\"max_active\": \"513\"}", "max_active", "513", limit),
                Arguments.of("{\"max_active\": \"abc\"}", "max_active", "abc", limit),
                Arguments.of("{\"max_active\": 2.5}", "max_active", "2.5", limit),
                Arguments.of("{\"max_active\": true}", "max_active", "true", limit),
                Arguments.of("{\"nice\": 25}", "nice", "25", "-20..19"),
                Arguments.of("{\"nice\": -21}", "nice", "-21", "-20..19"),
                Arguments.of("{\"nice\": \"abc\"}", "nice", "abc", "-20..19"),
                Arguments.of("{\"nice\": \"25\"}", "nice", "25", "-20..19"),
                Arguments.of("{\"cpumask\": \"zz\"}", "cpumask", "zz", null),
                Arguments.of("{\"cpumask\": \"0-\"}", "cpumask", "0-", null),
                Arguments.of("{\"cpumask\": \"4\"}", "cpumask", "4", null),       // hex 4 = CPU 2: not one of the engine's 2
                Arguments.of("{\"cpumask\": \"0x4\"}", "cpumask", "0x4", null),
                Arguments.of("{\"cpumask\": \"2-3\"}", "cpumask", "2-3", null),
                Arguments.of("{\"cpumask\": \"0\"}", "cpumask", "0", null),       // hex 0: no CPU at all
                Arguments.of("{\"cpumask\": \"\"}", "cpumask", "", null),
                Arguments.of("{\"affinity_scope\": \"galaxy\"}", "affinity_scope", "galaxy", null),
                Arguments.of("{\"affinity_strict\": \"maybe\"}", "affinity_strict", "maybe", "true, false, 1 or 0"),
                Arguments.of("{\"affinity_strict\": 2}", "affinity_strict", "2", "true, false, 1 or 0"),
                // one bad value among good ones: nothing at all changes
                Arguments.of("{\"max_active\": 4, \"nice\": 25}", "nice", "25", "-20..19"),
                Arguments.of("{\"max_active\": 0, \"nice\": 3}", "max_active", "0", limit),
                Arguments.of("{\"nice\": 3, \"cpumask\": \"zz\"}", "cpumask", "zz", null),
                Arguments.of("{\"max_active\": 4, \"nice\": 3, \"cpumask\": \"0x1\", \"affinity_scope\": \"cpu\","
                        + " \"affinity_strict\": \"maybe\"}", "affinity_strict", "maybe", "true, false, 1 or 0"),
                Arguments.of("{\"max_active\": \"4\", \"nice\": \"3\", \"cpumask\": \"4\"}", "cpumask", "4", null),
                Arguments.of("{\"max_active\": 4, \"affinity_scope\": \"galaxy\", \"affinity_strict\": true}", "affinity_scope",
                        "galaxy", null));
    }

    @ParameterizedTest(name = "[{index}] {0}")
    @MethodSource("badValues")
    void aBadValueIs400NamingItAndChangesNothing(String body, String key, String value, String allowed) throws Exception {
        Map<String, Object> answer = refused("writeback", body);
        assertThat(answer).containsOnlyKeys("workqueue", "key", "value", "error", "allowed", "changed");
        assertThat(answer).containsEntry("workqueue", "writeback").containsEntry("key", key).containsEntry("value", value);
        assertThat((String) answer.get("error")).isNotBlank();
        assertThat((String) answer.get("allowed")).isNotBlank();
        if (allowed != null) {
            assertThat(answer).containsEntry("allowed", allowed);
        }
        if (key.equals("max_active")) {
            assertThat(answer.get("allowed")).isEqualTo("1.." + engine.unboundMaxActiveLimit());
        }
    }

    @Test
    void cpumaskErrorsSayWhatIsWrong() throws Exception {
        assertThat((String) refused("writeback", "{\"cpumask\": \"4\"}").get("error")).contains("no online CPU");
        assertThat((String) refused("writeback", "{\"cpumask\": \"4\"}").get("allowed")).contains("0-1");
        assertThat((String) refused("writeback", "{\"cpumask\": \"zz\"}").get("error")).contains("zz");
        assertThat((String) refused("writeback", "{\"affinity_scope\": \"galaxy\"}").get("error")).contains("galaxy");
        assertThat((String) refused("writeback", "{\"affinity_scope\": \"galaxy\"}").get("allowed"))
                .contains("cpu", "smt", "cache", "numa", "system");
    }

    @Test
    void nothingToChangeIs400() throws Exception {
        for (String body : List.of("{}", "{\"max_active\": null}", "{\"max_actve\": 4}", "{\"MAX_ACTIVE\": 4}")) {
            Map<String, Object> answer = refused("writeback", body);
            assertThat(answer).containsEntry("error", "nothing to change").doesNotContainKeys("key", "value");
            assertThat((String) answer.get("allowed")).contains("max_active", "nice", "cpumask", "affinity_scope", "affinity_strict");
        }
    }

    @Test
    void noBodyOrBrokenJsonIs400AndChangesNothing() throws Exception {
        for (String body : new String[] {null, "{max_active", "[4]", "{\"nice\": [5]}", "{\"nice\": {\"v\": 5}}"}) {
            Map<String, Object> before = queueWithoutStats("writeback");
            EngineState engineBefore = engineState("writeback");
            Resp r = postAsOps(WB, body);
            assertThat(r.status()).as("body %s: %s", body, r).isEqualTo(400);
            assertThat(queueWithoutStats("writeback")).isEqualTo(before);
            assertThat(engineState("writeback")).isEqualTo(engineBefore);
        }
    }

    @Test
    void unknownQueueIs404() throws Exception {
        Resp r = postAsOps(BASE + "/nope", "{\"max_active\": 4}");
        assertThat(r.status()).as("%s", r).isEqualTo(404);
        assertThat(r.json()).containsEntry("error", "no workqueue named 'nope'");
    }

    /**
     * POSTs {@code body} to the queue as OPS; asserts a 400 whose body says nothing changed, and that
     * nothing did: the descriptor (minus statistics) and the engine's state are as before.
     */
    private Map<String, Object> refused(String name, String body) throws Exception {
        Map<String, Object> before = queueWithoutStats(name);
        EngineState engineBefore = engineState(name);
        Map<String, Object> listingBefore = new LinkedHashMap<>(get(BASE).json());
        listingBefore.remove("workqueues");
        listingBefore.remove("pools");
        listingBefore.remove("worker_threads");
        Resp r = postAsOps(BASE + "/" + name, body);
        assertThat(r.status()).as("POST %s %s: %s", name, body, r).isEqualTo(400);
        assertThat(r.contentType()).contains("json");
        Map<String, Object> answer = r.json();
        assertThat(answer).containsEntry("changed", false);
        assertThat((String) answer.get("error")).isNotBlank();
        assertThat((String) answer.get("allowed")).isNotBlank();
        assertThat(queueWithoutStats(name)).as("descriptor after %s", body).isEqualTo(before);
        assertThat(engineState(name)).as("engine after %s", body).isEqualTo(engineBefore);
        Map<String, Object> listingAfter = new LinkedHashMap<>(get(BASE).json());
        listingAfter.remove("workqueues");
        listingAfter.remove("pools");
        listingAfter.remove("worker_threads");
        assertThat(listingAfter).isEqualTo(listingBefore);
        return answer;
    }
}
