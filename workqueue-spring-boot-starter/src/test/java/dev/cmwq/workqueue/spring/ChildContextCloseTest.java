package dev.cmwq.workqueue.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.cmwq.workqueue.DelayedWork;
import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.Workqueues;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.ApplicationListener;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.event.ContextClosedEvent;

/**
 * A child context's close reaches the parent's listeners (events propagate upwards), but the
 * parent's engine must neither be drained nor be marked for draining by it.
 */
class ChildContextCloseTest {

    private static final Duration LIMIT = Duration.ofSeconds(30);

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(WorkqueueAutoConfiguration.class))
            .withPropertyValues("workqueue.cpus=2", "workqueue.queues.fz.flags=freezable");

    /** Counts the ContextClosedEvents it sees, to prove the child's event reached the parent. */
    public static class ClosedEvents implements ApplicationListener<ContextClosedEvent> {
        private final AtomicInteger seen = new AtomicInteger();

        @Override
        public void onApplicationEvent(ContextClosedEvent event) {
            seen.incrementAndGet();
        }

        public int seen() {
            return seen.get();
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class ParentConfig {
        @Bean
        ClosedEvents closedEvents() {
            return new ClosedEvents();
        }
    }

    /** The child uses the parent's engine through a @WorkItem bean of its own. */
    public static class ChildWorker {
        private final AtomicInteger runs = new AtomicInteger();

        @WorkItem(queue = "system_wq")
        public void work(int n) {
            runs.incrementAndGet();
        }

        public int runs() {
            return runs.get();
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class ChildConfig {
        @Bean
        static WorkItemAnnotationBeanPostProcessor childWorkItemPostProcessor() {
            return new WorkItemAnnotationBeanPostProcessor();
        }

        @Bean
        ChildWorker childWorker() {
            return new ChildWorker();
        }
    }

    @Test
    void closingAChildLeavesTheParentsEngineRunning() {
        runner.withUserConfiguration(ParentConfig.class).run(parent -> {
            assertThat(parent).hasNotFailed();
            Workqueues engine = parent.getBean(Workqueues.class);
            WorkqueuesLifecycle lifecycle = parent.getBean(WorkqueuesLifecycle.class);
            ClosedEvents events = parent.getBean(ClosedEvents.class);

            AnnotationConfigApplicationContext child = new AnnotationConfigApplicationContext();
            child.setParent(parent.getSourceApplicationContext());
            child.register(ChildConfig.class);
            child.refresh();
            ChildWorker worker = child.getBean(ChildWorker.class);
            worker.work(1);
            await().atMost(LIMIT).until(() -> worker.runs() == 1);
            child.close();

            assertThat(events.seen()).as("the child's ContextClosedEvent reached the parent").isEqualTo(1);
            assertThat(engine.isShutdown()).as("the child's close did not drain the parent's engine").isFalse();
            assertThat(lifecycle.isRunning()).isTrue();

            // The parent's engine still takes and runs items.
            CountDownLatch ran = new CountDownLatch(2);
            Workqueue systemWq = parent.getBean("system_wq", Workqueue.class);
            assertThat(systemWq.queue(new Work("after-child-close", ran::countDown))).isTrue();
            parent.getBean("fz", Workqueue.class).queue(new Work("freezable-after-child-close", ran::countDown));
            assertThat(ran.await(LIMIT.toSeconds(), TimeUnit.SECONDS)).isTrue();

            // And the parent's lifecycle was not marked for draining by the child's event: a stop
            // of the parent still freezes (and does not shut the engine down).
            parent.stop();
            assertThat(engine.isShutdown()).as("parent stop after a child close freezes, it does not drain").isFalse();
            assertThat(engine.isFrozen()).isTrue();
            CountDownLatch held = new CountDownLatch(1);
            parent.getBean("fz", Workqueue.class).queue(new Work("held", held::countDown));
            CountDownLatch other = new CountDownLatch(1);
            systemWq.queue(new Work("other", other::countDown));
            assertThat(other.await(LIMIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
            assertThat(held.getCount()).isEqualTo(1);
            parent.start();
            assertThat(held.await(LIMIT.toSeconds(), TimeUnit.SECONDS)).isTrue();

            // The parent's own close still drains.
            CountDownLatch drained = new CountDownLatch(1);
            systemWq.queueDelayed(new DelayedWork("at-parent-close", drained::countDown), Duration.ofHours(1));
            parent.close();
            assertThat(drained.getCount()).isZero();
            assertThat(engine.isShutdown()).isTrue();
            assertThat(events.seen()).isEqualTo(2);
        });
    }
}
