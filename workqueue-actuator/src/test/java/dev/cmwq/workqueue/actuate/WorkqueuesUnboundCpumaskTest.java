package dev.cmwq.workqueue.actuate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.cmwq.workqueue.CpuMask;
import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.test.annotation.DirtiesContext;

/**
 * {@code POST /actuator/workqueues} with {@code cpumask}: the engine-wide unbound cpumask. Each test
 * restores it; the context is not reused either.
 */
@SpringBootTest(classes = ActuatorTestApp.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "workqueue.cpus=2",
        "management.endpoints.web.exposure.include=workqueues,health,prometheus",
        "management.endpoint.workqueues.access=unrestricted",
        "workqueue.queues.writeback.flags=unbound,sysfs", "workqueue.queues.writeback.max-active=8",
        "workqueue.queues.pinned.flags=unbound", "workqueue.queues.pinned.cpumask=0x2"})
@DirtiesContext(classMode = DirtiesContext.ClassMode.AFTER_CLASS)
class WorkqueuesUnboundCpumaskTest extends EndpointHttpSupport {

    private static final Duration LIMIT = Duration.ofSeconds(30);
    private static final CpuMask ALL = CpuMask.all(2);

    @BeforeEach
    @AfterEach
    void restore() {
        engine.setUnboundCpumask(ALL);
        wq("writeback").applyAttrs(dev.cmwq.workqueue.WorkqueueAttrs.defaults());
        assertThat(engine.unboundCpumask()).isEqualTo(ALL);
    }

    @Test
    void restrictsEveryUnboundQueueAndComesBack() throws Exception {
        Resp r = postAsOps(BASE, "{\"cpumask\": \"1\"}"); // hex 1 = CPU 0
        assertThat(r.status()).as("%s", r).isEqualTo(200);
        assertThat(engine.unboundCpumask()).isEqualTo(CpuMask.of(0));

        // the answer is the whole listing, as a GET gives it
        Map<String, Object> answer = r.json();
        assertThat(answer).containsKeys("engine", "pools", "workqueues");
        assertThat(answer.get("unbound_cpumask")).isEqualTo(Map.of("requested", Map.of("hex", "1", "list", "0"),
                "effective", Map.of("hex", "1", "list", "0")));
        assertThat(get(BASE).json().get("unbound_cpumask")).isEqualTo(answer.get("unbound_cpumask"));

        // writeback asked for every CPU: keeps asking, runs on CPU 0
        Map<String, Object> wb = queueWithoutStats("writeback");
        assertThat(wb.get("cpumask")).isEqualTo(mask(ALL));
        assertThat(wb.get("effective_cpumask")).isEqualTo(mask(CpuMask.of(0)));
        assertThat(wq("writeback").effectiveCpumask()).isEqualTo(CpuMask.of(0));
        // pinned asked for CPU 1 only: no overlap, so the whole unbound cpumask (the kernel's rule)
        Map<String, Object> pinned = queueWithoutStats("pinned");
        assertThat(pinned.get("cpumask")).isEqualTo(mask(CpuMask.of(1)));
        assertThat(pinned.get("effective_cpumask")).isEqualTo(mask(CpuMask.of(0)));
        // bound queues are not affected
        assertThat(queueWithoutStats("events").get("cpumask")).isEqualTo(mask(ALL));
        // the unbound pools in use move inside the mask (old ones go once idle)
        await().atMost(LIMIT).untilAsserted(() -> assertThat(unboundPoolCpus()).isNotEmpty().allSatisfy(cpus ->
                assertThat(cpus).isEqualTo(Map.of("hex", "1", "list", "0"))));

        // items still run
        long done = wq("writeback").stats().completed();
        for (int i = 0; i < 4; i++) {
            assertThat(wq("writeback").queue(new Work("restricted-" + i, () -> { }))).isTrue();
        }
        await().atMost(LIMIT).untilAsserted(() ->
                assertThat(num(map(get(BASE + "/writeback").json().get("stats")).get("completed"))).isEqualTo(done + 4));

        // back to both CPUs, in the list form
        Resp back = postAsOps(BASE, "{\"cpumask\": \"0-1\"}");
        assertThat(back.status()).as("%s", back).isEqualTo(200);
        assertThat(engine.unboundCpumask()).isEqualTo(ALL);
        assertThat(queueWithoutStats("pinned").get("effective_cpumask")).isEqualTo(mask(CpuMask.of(1)));
        assertThat(queueWithoutStats("writeback").get("effective_cpumask")).isEqualTo(mask(ALL));
    }

    private List<Object> unboundPoolCpus() throws Exception {
        return list(get(BASE).json().get("pools")).stream().map(EndpointHttpSupport::map)
                .filter(p -> "unbound".equals(p.get("kind"))).map(p -> p.get("cpus")).toList();
    }

    @Test
    void acceptsBothFormsAndDropsCpusBeyondTheEngines() throws Exception {
        for (Object[] c : new Object[][] {{"0x2", CpuMask.of(1)}, {"1-1", CpuMask.of(1)}, {"1", CpuMask.of(0)},
                {"0-7", ALL}, {"ff", ALL}, {"3", ALL}}) {
            Resp r = postAsOps(BASE, "{\"cpumask\": \"" + c[0] + "\"}");
            assertThat(r.status()).as("%s: %s", c[0], r).isEqualTo(200);
            assertThat(engine.unboundCpumask()).as("%s", c[0]).isEqualTo(c[1]);
            assertThat(map(r.json().get("unbound_cpumask")).get("requested")).isEqualTo(mask((CpuMask) c[1]));
        }
    }

    @Test
    void aQueueMaskOutsideTheUnboundMaskIsKeptAndWaits() throws Exception {
        assertThat(postAsOps(BASE, "{\"cpumask\": \"1\"}").status()).isEqualTo(200);
        Resp r = postAsOps(BASE + "/writeback", "{\"cpumask\": \"0x2\"}");
        assertThat(r.status()).as("%s", r).isEqualTo(200);
        assertThat(wq("writeback").attrs().cpumask()).isEqualTo(CpuMask.of(1));
        assertThat(wq("writeback").effectiveCpumask()).isEqualTo(CpuMask.of(0));
        assertThat(postAsOps(BASE, "{\"cpumask\": \"3\"}").status()).isEqualTo(200);
        assertThat(wq("writeback").effectiveCpumask()).isEqualTo(CpuMask.of(1));
    }

    @Test
    void badMasksAre400AndChangeNothing() throws Exception {
        assertThat(postAsOps(BASE, "{\"cpumask\": \"1\"}").status()).isEqualTo(200); // start from a non-default mask
        for (String bad : List.of("zz", "0-", "4", "0x4", "2-3", "0", "", " ", "1-0", "0,,1", "123456789")) {
            Map<String, Object> before = snapshot();
            Resp r = postAsOps(BASE, "{\"cpumask\": \"" + bad + "\"}");
            assertThat(r.status()).as("'%s': %s", bad, r).isEqualTo(400);
            Map<String, Object> answer = r.json();
            assertThat(answer).containsEntry("key", "cpumask").containsEntry("value", bad).containsEntry("changed", false)
                    .doesNotContainKey("workqueue");
            assertThat((String) answer.get("error")).isNotBlank();
            assertThat((String) answer.get("allowed")).isNotBlank();
            assertThat(engine.unboundCpumask()).as("'%s'", bad).isEqualTo(CpuMask.of(0));
            assertThat(snapshot()).as("'%s'", bad).isEqualTo(before);
        }
        Resp offline = postAsOps(BASE, "{\"cpumask\": \"4\"}");
        assertThat((String) offline.json().get("error")).contains("no online CPU");
        assertThat((String) offline.json().get("allowed")).contains("0-1");
    }

    @Test
    void withoutACpumaskThereIsNothingToChange() throws Exception {
        for (String body : List.of("{}", "{\"cpumask\": null}", "{\"max_active\": 3}", "{\"unbound_cpumask\": \"1\"}")) {
            Map<String, Object> before = snapshot();
            Resp r = postAsOps(BASE, body);
            assertThat(r.status()).as("%s: %s", body, r).isEqualTo(400);
            assertThat(r.json()).containsEntry("error", "nothing to change").containsEntry("allowed", "cpumask")
                    .containsEntry("changed", false);
            assertThat(snapshot()).isEqualTo(before);
            assertThat(engine.unboundCpumask()).isEqualTo(ALL);
        }
    }

    /** The listing without what moves by itself (statistics, pool counters, worker threads). */
    private Map<String, Object> snapshot() throws Exception {
        Map<String, Object> all = new LinkedHashMap<>(get(BASE).json());
        all.remove("worker_threads");
        all.put("pools", list(all.get("pools")).stream().map(p -> {
            Map<String, Object> m = new LinkedHashMap<>(map(p));
            List.of("workers", "idle", "running", "pending", "last_start").forEach(m::remove);
            return m;
        }).toList());
        Map<String, Object> queues = new LinkedHashMap<>();
        map(all.remove("workqueues")).forEach((k, v) -> {
            Map<String, Object> q = new LinkedHashMap<>(map(v));
            q.remove("stats");
            queues.put(k, q);
        });
        all.put("workqueues", queues);
        return all;
    }
}
