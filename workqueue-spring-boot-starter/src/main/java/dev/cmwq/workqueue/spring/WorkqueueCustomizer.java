package dev.cmwq.workqueue.spring;

import dev.cmwq.workqueue.Workqueue;

/**
 * Adjusts each workqueue (the system queues and every configured one) once the engine is built and
 * the {@code workqueue.*} properties were applied: e.g. {@code setMaxActive} or {@code applyAttrs}
 * computed in code. Beans of this type are applied in {@link org.springframework.core.annotation.Order}
 * order; {@link Workqueue#name()} tells which queue is being customized.
 */
@FunctionalInterface
public interface WorkqueueCustomizer {

    void customize(Workqueue workqueue);
}
