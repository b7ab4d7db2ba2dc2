package dev.cmwq.workqueue.actuate;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.AffinityScope;
import dev.cmwq.workqueue.WorkqueueAttrs;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.test.annotation.DirtiesContext;

/**
 * An engine whose default affinity scope is not the kernel's ({@code system} instead of
 * {@code cache}): what {@code affinity_scope: default} means.
 */
@SpringBootTest(classes = ActuatorTestApp.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "workqueue.cpus=2",
        "workqueue.default-affinity-scope=system",
        "management.endpoints.web.exposure.include=workqueues,health,prometheus",
        "management.endpoint.workqueues.access=unrestricted",
        "workqueue.queues.writeback.flags=unbound,sysfs", "workqueue.queues.writeback.max-active=8"})
@DirtiesContext(classMode = DirtiesContext.ClassMode.AFTER_CLASS)
class WorkqueuesEndpointDefaultScopeTest extends EndpointHttpSupport {

    @BeforeEach
    void reset() {
        wq("writeback").applyAttrs(WorkqueueAttrs.defaults()); // no scope given: the engine's default
    }

    @Test
    void theEnginesDefaultIsShown() throws Exception {
        assertThat(get(BASE).json()).containsEntry("default_affinity_scope", "system");
        assertThat(engine.defaultAffinityScope()).isEqualTo(AffinityScope.SYSTEM);
        assertThat(queueWithoutStats("writeback")).containsEntry("affinity_scope", "system");
    }

    @Test
    void defaultMeansTheEnginesDefault() throws Exception {
        assertThat(postAsOps(BASE + "/writeback", "{\"affinity_scope\": \"cache\"}").status()).isEqualTo(200);
        assertThat(wq("writeback").attrs().affinityScope()).isEqualTo(AffinityScope.CACHE);
        Resp r = postAsOps(BASE + "/writeback", "{\"affinity_scope\": \"default\"}");
        assertThat(r.status()).as("%s", r).isEqualTo(200);
        assertThat(wq("writeback").attrs().affinityScope()).isEqualTo(engine.defaultAffinityScope());
        assertThat(r.json()).containsEntry("affinity_scope", "system");
    }
}
