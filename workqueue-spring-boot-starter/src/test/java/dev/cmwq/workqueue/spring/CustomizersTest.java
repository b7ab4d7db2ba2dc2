package dev.cmwq.workqueue.spring;

import static dev.cmwq.workqueue.spring.StarterTestSupport.runner;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.WorkqueueAttrs;
import dev.cmwq.workqueue.Workqueues;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.annotation.Order;

/** {@link WorkqueuesBuilderCustomizer} and {@link WorkqueueCustomizer} beans adjust the engine and its queues in code. */
class CustomizersTest {

    /** What the customizers saw, in the order they ran. */
    static final class Log {
        final List<String> entries = new CopyOnWriteArrayList<>();
    }

    @Configuration(proxyBeanMethods = false)
    static class BuilderCustomizers {
        @Bean
        Log log() {
            return new Log();
        }

        // declared first, runs second
        @Bean
        @Order(2)
        WorkqueuesBuilderCustomizer second(Log log) {
            return b -> {
                log.entries.add("second");
                b.name("from-second").watchdogThreshold(Duration.ofSeconds(9));
            };
        }

        @Bean
        @Order(1)
        WorkqueuesBuilderCustomizer first(Log log) {
            return b -> {
                log.entries.add("first");
                b.name("from-first").idleTimeout(Duration.ofSeconds(11));
            };
        }
    }

    @Test
    void builderCustomizersRunInOrderAfterTheProperties() {
        runner().withPropertyValues("workqueue.name=from-properties", "workqueue.watchdog.threshold=20s", "workqueue.idle-timeout=20s")
                .withUserConfiguration(BuilderCustomizers.class)
                .run(ctx -> {
                    assertThat(ctx).hasNotFailed();
                    assertThat(ctx.getBean(Log.class).entries).containsExactly("first", "second");
                    Workqueues e = ctx.getBean(Workqueues.class);
                    assertThat(e.name()).isEqualTo("from-second");
                    assertThat(e.watchdogThreshold()).isEqualTo(Duration.ofSeconds(9));
                    assertThat(StarterTestSupport.field(e, "idleTimeoutNanos")).isEqualTo(Duration.ofSeconds(11).toNanos());
                });
    }

    @Configuration(proxyBeanMethods = false)
    static class QueueCustomizers {
        @Bean
        Log log() {
            return new Log();
        }

        @Bean
        @Order(20)
        WorkqueueCustomizer late(Log log) {
            return wq -> {
                log.entries.add("late:" + wq.name());
                if (!wq.isOrdered()) {
                    wq.setMaxActive(wq.isUnbound() ? 30 : 20);
                }
            };
        }

        @Bean
        @Order(10)
        WorkqueueCustomizer early(Log log) {
            return wq -> {
                log.entries.add("early:" + wq.name() + ":" + wq.maxActive());
                if (!wq.isOrdered()) {
                    wq.setMaxActive(3);
                }
                if (wq.name().equals("writeback")) {
                    wq.applyAttrs(wq.attrs().withNice(4));
                }
            };
        }
    }

    @Test
    void queueCustomizersSeeEveryQueueInOrder() {
        runner().withPropertyValues("workqueue.queues.writeback.flags=unbound", "workqueue.queues.writeback.max-active=8",
                        "workqueue.queues.audit.ordered=true", "workqueue.system-wq.max-active=5")
                .withUserConfiguration(QueueCustomizers.class)
                .run(ctx -> {
                    assertThat(ctx).hasNotFailed();
                    Workqueues e = ctx.getBean(Workqueues.class);
                    List<String> entries = ctx.getBean(Log.class).entries;
                    List<String> names = e.workqueues().stream().map(Workqueue::name).toList();
                    assertThat(names).contains("events", "events_highpri", "events_long", "events_unbound", "events_freezable",
                            "events_power_efficient", "events_freezable_pwr_efficient", "writeback", "audit");
                    // each queue once per customizer, early before late for each queue
                    List<String> expected = new ArrayList<>();
                    for (String n : names) {
                        expected.add("early:" + n);
                        expected.add("late:" + n);
                    }
                    assertThat(entries.stream().map(s -> s.startsWith("early:") ? s.substring(0, s.lastIndexOf(':')) : s).toList())
                            .containsExactlyElementsOf(expected);
                    // customizers run after the properties were applied
                    assertThat(entries).contains("early:events:5", "early:writeback:8");
                    // the last one wins
                    assertThat(ctx.getBean("system_wq", Workqueue.class).maxActive()).isEqualTo(20);
                    assertThat(ctx.getBean("system_unbound_wq", Workqueue.class).maxActive()).isEqualTo(30);
                    assertThat(ctx.getBean("writeback", Workqueue.class).maxActive()).isEqualTo(30);
                    assertThat(ctx.getBean("writeback", Workqueue.class).attrs().nice()).isEqualTo(4);
                    assertThat(ctx.getBean("audit", Workqueue.class).maxActive()).isEqualTo(1);
                });
    }

    @Test
    void aFailingCustomizerStopsTheStartAndTheEngine() {
        StarterTestSupport.ThreadRecorder threads = new StarterTestSupport.ThreadRecorder();
        runner().withPropertyValues("workqueue.queues.audit.ordered=true")
                .withBean("recorder", WorkqueuesBuilderCustomizer.class, () -> threads)
                // setMaxActive on an ordered queue throws IllegalStateException
                .withBean("bad", WorkqueueCustomizer.class, () -> wq -> wq.setMaxActive(4))
                .run(ctx -> {
                    assertThat(ctx).hasFailed();
                    assertThat(ctx.getStartupFailure()).rootCause().isInstanceOf(IllegalStateException.class)
                            .hasMessageContaining("audit").hasMessageContaining("ordered");
                });
        assertThat(threads.threads).as("the engine was built before the customizer failed").isNotEmpty();
        threads.awaitAllExited();
    }

    @Test
    void customizerCanChangeAttributesOfAnUnboundQueue() {
        runner().withPropertyValues("workqueue.queues.[bulk_io].flags=unbound")
                .withBean(WorkqueueCustomizer.class, () -> wq -> {
                    if (wq.name().equals("bulk_io")) {
                        wq.applyAttrs(new WorkqueueAttrs(10, null));
                    }
                })
                .run(ctx -> {
                    assertThat(ctx).hasNotFailed();
                    assertThat(ctx.getBean("bulk_io", Workqueue.class).attrs().nice()).isEqualTo(10);
                });
    }
}
