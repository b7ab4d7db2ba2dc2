package dev.cmwq.workqueue.spring;

import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.Workqueues;
import java.util.Map;
import org.springframework.beans.factory.BeanRegistrar;
import org.springframework.beans.factory.BeanRegistry;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.core.env.Environment;

/**
 * One bean per workqueue, named after it: the system queues by the kernel's variable names
 * ({@code system_wq}, {@code system_unbound_wq}, ...) and each queue under
 * {@code workqueue.queues}. Each bean is the engine's {@link Workqueue} object; none is an
 * {@code Executor}.
 */
class WorkqueueBeanRegistrar implements BeanRegistrar {

    @Override
    public void register(BeanRegistry registry, Environment env) {
        for (String name : WorkqueuesFactory.SYSTEM_QUEUE_BEANS) {
            register(registry, name, "system workqueue " + name);
        }
        Map<String, WorkqueueProperties.Queue> queues = Binder.get(env)
                .bind("workqueue.queues", Bindable.mapOf(String.class, WorkqueueProperties.Queue.class))
                .orElse(Map.of());
        for (Map.Entry<String, String> e : WorkqueuesFactory.configuredQueueNames(queues).entrySet()) {
            if (!WorkqueuesFactory.SYSTEM_NAMES.contains(e.getKey())) { // the factory reports those
                register(registry, e.getKey(), "workqueue declared at " + e.getValue());
            }
        }
    }

    private static void register(BeanRegistry registry, String name, String description) {
        registry.registerBean(name, Workqueue.class, spec -> spec.description(description)
                .supplier(ctx -> ctx.bean(Workqueues.class).workqueue(name).orElseThrow(() -> new IllegalStateException(
                        "workqueue '" + name + "' is configured, but the Workqueues bean has no such queue: a Workqueues bean of "
                                + "your own must allocate it"))));
    }
}
