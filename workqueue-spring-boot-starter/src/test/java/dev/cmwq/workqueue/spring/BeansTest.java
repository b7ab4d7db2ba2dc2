package dev.cmwq.workqueue.spring;

import static dev.cmwq.workqueue.spring.StarterTestSupport.runner;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.Workqueues;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.task.TaskExecutor;

/** The engine and one {@link Workqueue} bean per queue, named after it and injectable by name or qualifier. */
class BeansTest {

    private static final Map<String, String> SYSTEM_BEANS = new LinkedHashMap<>();

    static {
        SYSTEM_BEANS.put("system_wq", "events");
        SYSTEM_BEANS.put("system_highpri_wq", "events_highpri");
        SYSTEM_BEANS.put("system_long_wq", "events_long");
        SYSTEM_BEANS.put("system_unbound_wq", "events_unbound");
        SYSTEM_BEANS.put("system_freezable_wq", "events_freezable");
        SYSTEM_BEANS.put("system_power_efficient_wq", "events_power_efficient");
        SYSTEM_BEANS.put("system_freezable_power_efficient_wq", "events_freezable_pwr_efficient");
    }

    @Test
    void oneBeanPerQueueNamedAfterIt() {
        runner().withPropertyValues("workqueue.queues.writeback.flags=unbound", "workqueue.queues.audit.ordered=true",
                        "workqueue.queues.[my_queue].max-active=2")
                .run(ctx -> {
                    assertThat(ctx).hasNotFailed();
                    Workqueues engine = ctx.getBean(Workqueues.class);
                    assertThat(ctx).hasSingleBean(Workqueues.class);
                    Map<String, Workqueue> beans = ctx.getBeansOfType(Workqueue.class);
                    List<String> expected = new java.util.ArrayList<>(SYSTEM_BEANS.keySet());
                    expected.addAll(List.of("writeback", "audit", "my_queue"));
                    assertThat(beans.keySet()).containsExactlyInAnyOrderElementsOf(expected);
                    SYSTEM_BEANS.forEach((bean, name) -> {
                        Workqueue wq = beans.get(bean);
                        assertThat(wq.name()).as(bean).isEqualTo(name);
                        assertThat(wq.alias()).as(bean).isEqualTo(bean);
                        assertThat(engine.workqueue(name)).as(bean).containsSame(wq);
                    });
                    assertThat(beans.get("system_wq")).isSameAs(engine.systemWq());
                    assertThat(beans.get("system_highpri_wq")).isSameAs(engine.systemHighpriWq());
                    assertThat(beans.get("system_long_wq")).isSameAs(engine.systemLongWq());
                    assertThat(beans.get("system_unbound_wq")).isSameAs(engine.systemUnboundWq());
                    assertThat(beans.get("system_freezable_wq")).isSameAs(engine.systemFreezableWq());
                    assertThat(beans.get("system_power_efficient_wq")).isSameAs(engine.systemPowerEfficientWq());
                    assertThat(beans.get("system_freezable_power_efficient_wq")).isSameAs(engine.systemFreezablePowerEfficientWq());
                    for (String user : List.of("writeback", "audit", "my_queue")) {
                        assertThat(beans.get(user).name()).isEqualTo(user);
                        assertThat(engine.workqueue(user)).containsSame(beans.get(user));
                    }
                    // every engine queue has its bean
                    assertThat(engine.workqueues()).allSatisfy(wq -> assertThat(beans).containsValue(wq));
                });
    }

    static class Consumer {
        final Workqueue byQualifier;
        final Workqueue byParameterName;
        final Workqueue system;
        @Autowired
        @Qualifier("my_queue")
        Workqueue field;
        @Autowired
        Workqueue audit; // by field name

        Consumer(Workqueue byQualifier, Workqueue byParameterName, Workqueue system) {
            this.byQualifier = byQualifier;
            this.byParameterName = byParameterName;
            this.system = system;
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class ConsumerConfig {
        @Bean
        Consumer consumer(@Qualifier("writeback") Workqueue wq, Workqueue audit, Workqueue system_unbound_wq) {
            return new Consumer(wq, audit, system_unbound_wq);
        }
    }

    @Test
    void injectableByQualifierAndByName() {
        runner().withPropertyValues("workqueue.queues.writeback.flags=unbound", "workqueue.queues.audit.ordered=true",
                        "workqueue.queues.[my_queue].max-active=2")
                .withUserConfiguration(ConsumerConfig.class)
                .run(ctx -> {
                    assertThat(ctx).hasNotFailed();
                    Consumer c = ctx.getBean(Consumer.class);
                    assertThat(c.byQualifier.name()).isEqualTo("writeback");
                    assertThat(c.byParameterName.name()).isEqualTo("audit");
                    assertThat(c.system.name()).isEqualTo("events_unbound");
                    assertThat(c.field.name()).isEqualTo("my_queue");
                    assertThat(c.audit).isSameAs(c.byParameterName);
                });
    }

    @Test
    void queueBeansWork() throws Exception {
        runner().withPropertyValues("workqueue.queues.writeback.flags=unbound").run(ctx -> {
            assertThat(ctx).hasNotFailed();
            for (String bean : List.of("writeback", "system_wq", "system_unbound_wq", "system_highpri_wq")) {
                CountDownLatch ran = new CountDownLatch(1);
                AtomicReference<String> thread = new AtomicReference<>();
                assertThat(ctx.getBean(bean, Workqueue.class).queue(new Work(() -> {
                    thread.set(Thread.currentThread().getName());
                    ran.countDown();
                }))).isTrue();
                assertThat(ran.await(30, TimeUnit.SECONDS)).as(bean).isTrue();
                assertThat(thread.get()).as(bean).startsWith("kworker/");
            }
        });
    }

    /** The starter alone (without Spring Boot's task execution) contributes no executor of any kind. */
    @Test
    void noExecutorBeanFromTheStarter() {
        new ApplicationContextRunner().withConfiguration(AutoConfigurations.of(WorkqueueAutoConfiguration.class))
                .withPropertyValues(StarterTestSupport.BASE_PROPERTIES)
                .withPropertyValues("workqueue.queues.writeback.flags=unbound", "workqueue.queues.audit.ordered=true")
                .run(ctx -> {
                    assertThat(ctx).hasNotFailed();
                    assertThat(ctx.getBeanNamesForType(Workqueue.class)).hasSize(9);
                    assertThat(ctx.getBeansOfType(Executor.class)).isEmpty();
                    assertThat(ctx.getBeansOfType(ExecutorService.class)).isEmpty();
                    assertThat(ctx.getBeansOfType(TaskExecutor.class)).isEmpty();
                    assertThat(ctx.getBeanNamesForType(Executor.class, true, false)).isEmpty();
                });
    }

    /** A Workqueues bean of the application's own replaces the starter's; the queue beans come from it. */
    @Test
    void ownWorkqueuesBeanBacksOff() {
        runner().withBean(Workqueues.class, () -> Workqueues.builder().name("own").cpus(1).build())
                .run(ctx -> {
                    assertThat(ctx).hasNotFailed();
                    Workqueues engine = ctx.getBean(Workqueues.class);
                    assertThat(engine.name()).isEqualTo("own");
                    assertThat(ctx.getBean("system_wq", Workqueue.class)).isSameAs(engine.systemWq());
                });
    }
}
