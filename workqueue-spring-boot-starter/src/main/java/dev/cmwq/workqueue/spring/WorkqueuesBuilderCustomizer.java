package dev.cmwq.workqueue.spring;

import dev.cmwq.workqueue.Workqueues;

/**
 * Adjusts the engine's builder after the {@code workqueue.*} properties were applied and before
 * the engine is built (a thread factory, a CPU locator, a topology...). Beans of this type are
 * applied in {@link org.springframework.core.annotation.Order} order, as Spring Boot's own
 * executor customizers are.
 */
@FunctionalInterface
public interface WorkqueuesBuilderCustomizer {

    void customize(Workqueues.Builder builder);
}
