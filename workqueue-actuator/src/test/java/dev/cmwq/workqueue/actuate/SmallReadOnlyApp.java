package dev.cmwq.workqueue.actuate;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.springframework.boot.test.context.SpringBootTest;

/**
 * The small application of the docs: 2 CPUs, one queue {@code writeback} (unbound, sysfs,
 * max-active 8), the workqueues endpoint exposed with its default access (read-only). Classes
 * annotated with it share one context.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
@SpringBootTest(classes = ActuatorTestApp.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "workqueue.cpus=2",
        "management.endpoints.web.exposure.include=workqueues,health,prometheus",
        "workqueue.queues.writeback.flags=unbound,sysfs", "workqueue.queues.writeback.max-active=8"})
@interface SmallReadOnlyApp {
}
