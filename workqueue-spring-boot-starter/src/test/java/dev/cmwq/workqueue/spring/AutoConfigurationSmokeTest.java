package dev.cmwq.workqueue.spring;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.Workqueues;
import dev.cmwq.workqueue.WqFlag;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.autoconfigure.task.TaskExecutionAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.task.TaskExecutor;

class AutoConfigurationSmokeTest {

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(WorkqueueAutoConfiguration.class, TaskExecutionAutoConfiguration.class));

    static class Mailer {
        final AtomicInteger runs = new AtomicInteger();
        final CountDownLatch release = new CountDownLatch(1);

        public int runs() {
            return runs.get();
        }

        public void release() {
            release.countDown();
        }

        @WorkItem(queue = "writeback")
        public boolean send(int id) {
            runs.incrementAndGet();
            try {
                release.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return true;
        }

        @WorkItem(queue = "system_unbound_wq")
        public CompletableFuture<String> hello(String who) {
            return CompletableFuture.completedFuture("hello " + who + " from " + Thread.currentThread().getName());
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class MailerConfig {
        @Bean
        Mailer mailer() {
            return new Mailer();
        }
    }

    @Test
    void queuesAreBeansAndWorkItemsRun() {
        runner.withPropertyValues("workqueue.cpus=2", "workqueue.queues.writeback.flags=unbound,mem-reclaim",
                        "workqueue.queues.writeback.max-active=8", "workqueue.queues.audit.ordered=true")
                .withUserConfiguration(MailerConfig.class)
                .run(ctx -> {
                    assertThat(ctx).hasNotFailed();
                    assertThat(ctx.getBean("writeback", Workqueue.class).flags()).contains(WqFlag.UNBOUND, WqFlag.MEM_RECLAIM);
                    assertThat(ctx.getBean("audit", Workqueue.class).isOrdered()).isTrue();
                    assertThat(ctx.getBean("system_wq", Workqueue.class).name()).isEqualTo("events");
                    assertThat(ctx.getBean("applicationTaskExecutor")).isNotInstanceOf(WorkqueueTaskExecutor.class);
                    Mailer m = ctx.getBean(Mailer.class);
                    assertThat(m.hello("x").get(30, TimeUnit.SECONDS)).startsWith("hello x from kworker");
                    assertThat(m.send(1)).isTrue();
                    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> m.runs() == 1);
                    assertThat(m.send(1)).as("while running: queued again").isTrue();
                    assertThat(m.send(1)).as("pending: absorbed").isFalse();
                    m.release();
                    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> m.runs() == 2);
                    assertThat(ctx.getBean(Workqueues.class).workqueue("writeback")).isPresent();
                });
    }

    @Test
    void optInTaskExecutor() {
        runner.withPropertyValues("workqueue.task-executor.queue=system_unbound_wq").run(ctx -> {
            assertThat(ctx).hasNotFailed();
            assertThat(ctx.getBean("applicationTaskExecutor")).isInstanceOf(WorkqueueTaskExecutor.class);
            assertThat(ctx.getBeansOfType(TaskExecutor.class)).hasSize(1);
        });
    }

    @Test
    void badFlagFails() {
        runner.withPropertyValues("workqueue.queues.writeback.flags=unbound,mem-reclam").run(ctx -> {
            assertThat(ctx).hasFailed();
            var analysis = new WorkqueueBindFailureAnalyzer().analyze(ctx.getStartupFailure());
            assertThat(analysis.getDescription()).contains("workqueue.queues.writeback.flags")
                    .contains("'mem-reclam' is not a workqueue flag");
            assertThat(analysis.getAction()).contains("mem-reclaim").contains("cpu-intensive");
        });
    }
}
