package dev.cmwq.workqueue.actuate;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.CpuMask;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The endpoint's default access is read-only: without
 * {@code management.endpoint.workqueues.access=unrestricted} GETs work and every POST is refused,
 * even from the OPS user with a valid body, and nothing changes. The write operations are not
 * mapped at all, so Spring MVC answers the POST with 405 Method Not Allowed (the path itself exists
 * for GET); the security filter still runs first, so an anonymous POST gets 401 and the viewer 403.
 */
@SmallReadOnlyApp
class WorkqueuesEndpointReadOnlyAccessTest extends EndpointHttpSupport {

    @Test
    void readsWork() throws Exception {
        Resp all = get(BASE);
        assertThat(all.status()).as("%s", all).isEqualTo(200);
        assertThat(map(all.json().get("workqueues"))).containsKey("writeback");
        Resp one = get(BASE + "/writeback");
        assertThat(one.status()).as("%s", one).isEqualTo(200);
        assertThat(one.json()).containsEntry("max_active", 8).containsEntry("sysfs", true);
        assertThat(get(BASE + "/nope").status()).isEqualTo(404);
    }

    @Test
    void aValidQueueWriteByOpsIs405AndChangesNothing() throws Exception {
        for (String body : List.of("{\"max_active\": 4}", "{\"nice\": 5}", "{\"cpumask\": \"1\"}",
                "{\"max_active\": 4, \"nice\": 5, \"cpumask\": \"0-1\", \"affinity_scope\": \"system\", \"affinity_strict\": true}")) {
            Map<String, Object> before = queueWithoutStats("writeback");
            EngineState engineBefore = engineState("writeback");
            Resp r = postAsOps(BASE + "/writeback", body);
            assertThat(r.status()).as("%s: %s", body, r).isEqualTo(405);
            assertThat(queueWithoutStats("writeback")).isEqualTo(before);
            assertThat(engineState("writeback")).isEqualTo(engineBefore);
        }
        assertThat(wq("writeback").maxActive()).isEqualTo(8);
        assertThat(wq("writeback").attrs().nice()).isZero();
    }

    @Test
    void theEngineWideCpumaskCannotBeWrittenEither() throws Exception {
        Map<String, Object> before = engineSection();
        Resp r = postAsOps(BASE, "{\"cpumask\": \"1\"}");
        assertThat(r.status()).as("%s", r).isEqualTo(405);
        assertThat(engine.unboundCpumask()).isEqualTo(CpuMask.all(2));
        assertThat(engineSection()).isEqualTo(before);
    }

    @Test
    void unknownQueuesAndBadBodiesGetThe405Too() throws Exception {
        // no write operation is mapped, so the request never reaches the endpoint's validation
        assertThat(postAsOps(BASE + "/nope", "{\"max_active\": 4}").status()).isEqualTo(405);
        assertThat(postAsOps(BASE + "/writeback", "{\"nice\": 25}").status()).isEqualTo(405);
        assertThat(postAsOps(BASE + "/writeback", "{}").status()).isEqualTo(405);
        assertThat(wq("writeback").attrs().nice()).isZero();
    }

    @Test
    void securityStillComesFirst() throws Exception {
        EngineState before = engineState("writeback");
        assertThat(post(BASE + "/writeback", "{\"max_active\": 4}", null, null).status()).isEqualTo(401);
        assertThat(post(BASE + "/writeback", "{\"max_active\": 4}", "viewer", "viewer-secret").status()).isEqualTo(403);
        assertThat(post(BASE, "{\"cpumask\": \"1\"}", null, null).status()).isEqualTo(401);
        assertThat(post(BASE, "{\"cpumask\": \"1\"}", "viewer", "viewer-secret").status()).isEqualTo(403);
        assertThat(engineState("writeback")).isEqualTo(before);
    }

    private Map<String, Object> engineSection() throws Exception {
        Map<String, Object> all = new LinkedHashMap<>(get(BASE).json());
        all.remove("pools");
        all.remove("worker_threads");
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
