package dev.cmwq.workqueue.spring;

import static dev.cmwq.workqueue.spring.StarterTestSupport.BASE_PROPERTIES;
import static dev.cmwq.workqueue.spring.StarterTestSupport.runner;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.Workqueue;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.slf4j.MDC;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.autoconfigure.context.PropertyPlaceholderAutoConfiguration;
import org.springframework.boot.autoconfigure.task.TaskExecutionAutoConfiguration;
import org.springframework.boot.autoconfigure.task.TaskSchedulingAutoConfiguration;
import org.springframework.boot.http.converter.autoconfigure.HttpMessageConvertersAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.test.context.runner.WebApplicationContextRunner;
import org.springframework.boot.webmvc.autoconfigure.WebMvcAutoConfiguration;
import org.springframework.context.ApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.task.AsyncTaskExecutor;
import org.springframework.core.task.TaskExecutor;
import org.springframework.scheduling.TaskScheduler;
import org.springframework.scheduling.annotation.Async;
import org.springframework.scheduling.annotation.EnableAsync;
import org.springframework.scheduling.annotation.EnableScheduling;
import org.springframework.test.util.ReflectionTestUtils;
import org.springframework.web.servlet.mvc.method.annotation.RequestMappingHandlerAdapter;

/**
 * Adding the starter changes no executor: {@code applicationTaskExecutor}, {@code @Async}, the
 * scheduler and Spring MVC's async support are Spring Boot's, with and without it. Only
 * {@code workqueue.task-executor.queue} makes a queue's executor view the application's executor.
 */
class TaskExecutorTest {

    static class AsyncService {
        @Async
        public CompletableFuture<String> threadName() {
            return CompletableFuture.completedFuture(Thread.currentThread().getName());
        }
    }

    @Configuration(proxyBeanMethods = false)
    @EnableAsync
    static class AsyncConfig {
        @Bean
        AsyncService asyncService() {
            return new AsyncService();
        }
    }

    @Configuration(proxyBeanMethods = false)
    @EnableScheduling
    static class SchedulingConfig {
    }

    private static ApplicationContextRunner withoutStarter() {
        return new ApplicationContextRunner().withConfiguration(AutoConfigurations.of(TaskExecutionAutoConfiguration.class))
                .withPropertyValues(BASE_PROPERTIES);
    }

    private static String asyncThread(ApplicationContext ctx) throws Exception {
        return ctx.getBean(AsyncService.class).threadName().get(30, TimeUnit.SECONDS);
    }

    // ---- without the opt-in -------------------------------------------------------------------

    @Test
    void applicationTaskExecutorIsSpringBootsWithAndWithoutTheStarter() {
        AtomicReference<Class<?>> without = new AtomicReference<>();
        AtomicReference<Map<String, ?>> withoutExecutors = new AtomicReference<>();
        withoutStarter().run(ctx -> {
            assertThat(ctx).hasNotFailed();
            without.set(ctx.getBean("applicationTaskExecutor").getClass());
            withoutExecutors.set(ctx.getBeansOfType(Executor.class));
        });
        runner().withPropertyValues("workqueue.queues.writeback.flags=unbound").run(ctx -> {
            assertThat(ctx).hasNotFailed();
            Object executor = ctx.getBean("applicationTaskExecutor");
            assertThat(executor.getClass()).isEqualTo(without.get())
                    .isEqualTo(org.springframework.scheduling.concurrent.ThreadPoolTaskExecutor.class);
            assertThat(executor).isNotInstanceOf(WorkqueueTaskExecutor.class);
            assertThat(ctx.getBeansOfType(Executor.class).keySet()).isEqualTo(withoutExecutors.get().keySet())
                    .containsExactly("applicationTaskExecutor");
        });
    }

    @Test
    void asyncRunsOnSpringBootsThreadsWithAndWithoutTheStarter() {
        AtomicReference<String> without = new AtomicReference<>();
        withoutStarter().withUserConfiguration(AsyncConfig.class).run(ctx -> {
            assertThat(ctx).hasNotFailed();
            without.set(asyncThread(ctx));
        });
        assertThat(without.get()).startsWith("task-");
        runner().withUserConfiguration(AsyncConfig.class).run(ctx -> {
            assertThat(ctx).hasNotFailed();
            assertThat(asyncThread(ctx)).startsWith("task-");
        });
    }

    /** With @EnableScheduling there are two TaskExecutors (the scheduler is one); @Async still uses applicationTaskExecutor. */
    @Test
    void asyncAndSchedulerWithAndWithoutTheStarter() {
        AtomicReference<Class<?>> schedulerWithout = new AtomicReference<>();
        ApplicationContextRunner base = new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(TaskExecutionAutoConfiguration.class, TaskSchedulingAutoConfiguration.class))
                .withPropertyValues(BASE_PROPERTIES).withUserConfiguration(AsyncConfig.class, SchedulingConfig.class);
        base.run(ctx -> {
            assertThat(ctx).hasNotFailed();
            assertThat(asyncThread(ctx)).startsWith("task-");
            schedulerWithout.set(ctx.getBean(TaskScheduler.class).getClass());
        });
        base.withConfiguration(AutoConfigurations.of(WorkqueueAutoConfiguration.class)).run(ctx -> {
            assertThat(ctx).hasNotFailed();
            assertThat(asyncThread(ctx)).startsWith("task-");
            assertThat(ctx.getBean(TaskScheduler.class).getClass()).isEqualTo(schedulerWithout.get());
            assertThat(ctx.getBean(TaskScheduler.class)).isNotInstanceOf(WorkqueueTaskExecutor.class);
        });
    }

    private static WebApplicationContextRunner mvc() {
        return new WebApplicationContextRunner().withConfiguration(AutoConfigurations.of(WebMvcAutoConfiguration.class,
                        HttpMessageConvertersAutoConfiguration.class, PropertyPlaceholderAutoConfiguration.class,
                        TaskExecutionAutoConfiguration.class))
                .withPropertyValues(BASE_PROPERTIES);
    }

    private static Object mvcExecutor(ApplicationContext ctx) {
        return ReflectionTestUtils.getField(ctx.getBean(RequestMappingHandlerAdapter.class), "taskExecutor");
    }

    @Test
    void springMvcAsyncSupportUsesTheSameExecutorWithAndWithoutTheStarter() {
        AtomicReference<Class<?>> without = new AtomicReference<>();
        mvc().run(ctx -> {
            assertThat(ctx).hasNotFailed();
            assertThat(mvcExecutor(ctx)).isSameAs(ctx.getBean("applicationTaskExecutor"));
            without.set(mvcExecutor(ctx).getClass());
        });
        mvc().withConfiguration(AutoConfigurations.of(WorkqueueAutoConfiguration.class)).run(ctx -> {
            assertThat(ctx).hasNotFailed();
            assertThat(mvcExecutor(ctx)).isSameAs(ctx.getBean("applicationTaskExecutor"));
            assertThat(mvcExecutor(ctx).getClass()).isEqualTo(without.get());
        });
        mvc().withConfiguration(AutoConfigurations.of(WorkqueueAutoConfiguration.class))
                .withPropertyValues("workqueue.task-executor.queue=system_unbound_wq").run(ctx -> {
                    assertThat(ctx).hasNotFailed();
                    assertThat(mvcExecutor(ctx)).isInstanceOf(WorkqueueTaskExecutor.class)
                            .isSameAs(ctx.getBean("applicationTaskExecutor"));
                });
    }

    // ---- the opt-in ---------------------------------------------------------------------------

    @Test
    void optInMakesTheQueueTheApplicationTaskExecutor() {
        runner().withPropertyValues("workqueue.task-executor.queue=system_unbound_wq").withUserConfiguration(AsyncConfig.class)
                .run(ctx -> {
                    assertThat(ctx).hasNotFailed();
                    Object executor = ctx.getBean("applicationTaskExecutor");
                    assertThat(executor).isInstanceOf(WorkqueueTaskExecutor.class);
                    assertThat(((WorkqueueTaskExecutor) executor).getWorkqueue()).isSameAs(ctx.getBean("system_unbound_wq"));
                    assertThat(ctx.getBeansOfType(TaskExecutor.class)).containsOnlyKeys("applicationTaskExecutor");
                    assertThat(asyncThread(ctx)).startsWith("kworker/u");
                });
    }

    @Test
    void optInWithAConfiguredQueue() {
        runner().withPropertyValues("workqueue.queues.[web_async].max-active=4", "workqueue.task-executor.queue=web_async")
                .withUserConfiguration(AsyncConfig.class)
                .run(ctx -> {
                    assertThat(ctx).hasNotFailed();
                    WorkqueueTaskExecutor executor = ctx.getBean("applicationTaskExecutor", WorkqueueTaskExecutor.class);
                    Workqueue wq = ctx.getBean("web_async", Workqueue.class);
                    assertThat(executor.getWorkqueue()).isSameAs(wq);
                    // a bound queue: the per-CPU workers, kworker/<cpu>:<n>
                    assertThat(asyncThread(ctx)).matches("kworker/[01]:\\d+H?.*");
                    assertThat(ctx.getBean(AsyncService.class).threadName().get(30, TimeUnit.SECONDS)).startsWith("kworker/");
                });
    }

    @Test
    void optInExecutorCarriesTheMdc() {
        runner().withPropertyValues("workqueue.task-executor.queue=system_wq").run(ctx -> {
            assertThat(ctx).hasNotFailed();
            AsyncTaskExecutor executor = ctx.getBean("applicationTaskExecutor", AsyncTaskExecutor.class);
            MDC.put("request", "r-42");
            try {
                CompletableFuture<String> seen = executor.submitCompletable(() -> MDC.get("request") + "@" + Thread.currentThread().getName());
                assertThat(seen.get(30, TimeUnit.SECONDS)).startsWith("r-42@kworker/");
            } finally {
                MDC.remove("request");
            }
        });
    }

    /**
     * With {@code @EnableScheduling} the scheduler is a second TaskExecutor bean. Spring Boot's own
     * applicationTaskExecutor covers that with an AsyncConfigurer (and, before, a "taskExecutor"
     * alias); the opt-in replaces Boot's executor configuration (its condition is "no Executor
     * bean"), so neither exists and @Async can't choose between the two executors.
     */
    @Test
    void optInAsyncWithSchedulingRunsOnTheWorkqueue() {
        runner().withConfiguration(AutoConfigurations.of(TaskSchedulingAutoConfiguration.class))
                .withPropertyValues("workqueue.task-executor.queue=system_unbound_wq")
                .withUserConfiguration(AsyncConfig.class, SchedulingConfig.class)
                .run(ctx -> {
                    assertThat(ctx).hasNotFailed();
                    assertThat(ctx.getBeansOfType(TaskExecutor.class)).hasSizeGreaterThanOrEqualTo(2);
                    assertThat(asyncThread(ctx)).startsWith("kworker/");
                });
    }

    @Test
    void optInWithAnUnknownQueueFails() {
        runner().withPropertyValues("workqueue.task-executor.queue=nosuch").run(ctx -> {
            assertThat(ctx).hasFailed();
            var analysis = StarterTestSupport.analyze(ctx.getStartupFailure());
            assertThat(analysis).isNotNull();
            assertThat(analysis.getDescription()).contains("Property: workqueue.task-executor.queue").contains("Value: \"nosuch\"")
                    .contains("no workqueue is named 'nosuch'");
            assertThat(analysis.getAction()).contains("system_wq").contains("workqueue.queues");
        });
    }

    /**
     * A blank value is not "unset": {@code @ConditionalOnProperty} matches any value but "false", so
     * the opt-in is on and finds no queue named ''. The start fails with a report (rather than
     * silently keeping Spring Boot's executor); a profile can't switch the opt-in off with a blank.
     */
    @Test
    void optInWithABlankQueueFailsWithAReport() {
        runner().withPropertyValues("workqueue.task-executor.queue=").run(ctx -> {
            assertThat(ctx).hasFailed();
            var analysis = StarterTestSupport.analyze(ctx.getStartupFailure());
            assertThat(analysis).isNotNull();
            assertThat(analysis.getDescription()).contains("Property: workqueue.task-executor.queue").contains("Value: \"\"");
        });
    }
}
