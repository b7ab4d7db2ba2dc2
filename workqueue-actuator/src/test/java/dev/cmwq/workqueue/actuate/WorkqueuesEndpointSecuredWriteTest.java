package dev.cmwq.workqueue.actuate;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.CpuMask;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.test.annotation.DirtiesContext;

/**
 * With {@code management.endpoint.workqueues.access=unrestricted} the writes are mapped, and the
 * application's security decides: anonymous 401, the viewer 403, a wrong password 401, OPS 200.
 * Refused requests change nothing; reads stay open.
 */
@SpringBootTest(classes = ActuatorTestApp.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "workqueue.cpus=2",
        "management.endpoints.web.exposure.include=workqueues,health,prometheus",
        "management.endpoint.workqueues.access=unrestricted",
        "workqueue.queues.writeback.flags=unbound,sysfs", "workqueue.queues.writeback.max-active=8"})
@DirtiesContext(classMode = DirtiesContext.ClassMode.AFTER_CLASS)
class WorkqueuesEndpointSecuredWriteTest extends EndpointHttpSupport {

    @AfterEach
    void restore() {
        engine.setUnboundCpumask(CpuMask.all(2));
        wq("writeback").setMaxActive(8);
    }

    @Test
    void readsNeedNoCredentials() throws Exception {
        assertThat(get(BASE).status()).isEqualTo(200);
        assertThat(get(BASE + "/writeback").status()).isEqualTo(200);
    }

    @Test
    void queueWriteNeedsOps() throws Exception {
        String body = "{\"max_active\": 4}";
        Map<String, Object> before = queueWithoutStats("writeback");

        Resp anonymous = post(BASE + "/writeback", body, null, null);
        assertThat(anonymous.status()).as("%s", anonymous).isEqualTo(401);
        Resp wrongPassword = post(BASE + "/writeback", body, "ops", "not-the-secret");
        assertThat(wrongPassword.status()).as("%s", wrongPassword).isEqualTo(401);
        Resp viewer = post(BASE + "/writeback", body, "viewer", "viewer-secret");
        assertThat(viewer.status()).as("%s", viewer).isEqualTo(403);
        assertThat(queueWithoutStats("writeback")).isEqualTo(before);
        assertThat(wq("writeback").maxActive()).isEqualTo(8);

        Resp ops = postAsOps(BASE + "/writeback", body);
        assertThat(ops.status()).as("%s", ops).isEqualTo(200);
        assertThat(ops.json()).containsEntry("max_active", 4);
        assertThat(wq("writeback").maxActive()).isEqualTo(4);
    }

    @Test
    void theAnonymousRefusalAsksForBasicAuthentication() throws Exception {
        java.net.http.HttpResponse<String> r = HTTP.send(java.net.http.HttpRequest.newBuilder(uri(BASE + "/writeback"))
                .header("Content-Type", "application/json")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"max_active\": 4}")).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(401);
        assertThat(r.headers().firstValue("WWW-Authenticate")).hasValueSatisfying(v -> assertThat(v).startsWith("Basic"));
        assertThat(wq("writeback").maxActive()).isEqualTo(8);
    }

    @Test
    void engineWideWriteNeedsOps() throws Exception {
        String body = "{\"cpumask\": \"1\"}";
        assertThat(post(BASE, body, null, null).status()).isEqualTo(401);
        assertThat(post(BASE, body, "viewer", "viewer-secret").status()).isEqualTo(403);
        assertThat(post(BASE, body, "viewer", "ops-secret").status()).isEqualTo(401);
        assertThat(engine.unboundCpumask()).isEqualTo(CpuMask.all(2));

        Resp ops = postAsOps(BASE, body);
        assertThat(ops.status()).as("%s", ops).isEqualTo(200);
        assertThat(engine.unboundCpumask()).isEqualTo(CpuMask.of(0));
    }
}
