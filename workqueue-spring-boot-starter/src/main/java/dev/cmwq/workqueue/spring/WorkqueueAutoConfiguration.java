package dev.cmwq.workqueue.spring;

import dev.cmwq.workqueue.Workqueues;
import java.time.Duration;
import java.util.concurrent.Executor;
import org.springframework.beans.factory.BeanFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.config.BeanDefinition;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.autoconfigure.task.TaskExecutionAutoConfiguration;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Role;
import org.springframework.core.env.Environment;
import org.springframework.scheduling.annotation.AsyncConfigurer;

/**
 * The workqueue engine as beans: {@link Workqueues}, one {@code Workqueue} bean per queue (named
 * after it), {@link WorkItem} support, the lifecycle, and, when asked for, a queue as the
 * {@code applicationTaskExecutor}. No bean here is an {@code Executor} unless
 * {@code workqueue.task-executor.queue} is set, so adding the starter changes no executor that
 * {@code @Async}, Spring MVC or the scheduler use.
 */
@AutoConfiguration(before = TaskExecutionAutoConfiguration.class)
@ConditionalOnClass(Workqueues.class)
@ConditionalOnBooleanProperty(name = "workqueue.enabled", matchIfMissing = true)
@EnableConfigurationProperties(WorkqueueProperties.class)
@Import(WorkqueueBeanRegistrar.class)
public class WorkqueueAutoConfiguration {

    /**
     * The engine. {@link WorkqueuesLifecycle} shuts it down on close within the shutdown-phase
     * timeout, also when the context was stopped before (its destroy callback); the engine's own
     * {@code close()} on destroy is then a no-op, and only matters when the context fails before
     * the lifecycle bean exists.
     */
    @Bean
    @ConditionalOnMissingBean
    public Workqueues workqueues(WorkqueueProperties properties, ObjectProvider<WorkqueuesBuilderCustomizer> builderCustomizers,
                                 ObjectProvider<WorkqueueCustomizer> queueCustomizers) {
        return WorkqueuesFactory.create(properties, builderCustomizers.orderedStream().toList(),
                queueCustomizers.orderedStream().toList());
    }

    @Bean
    @ConditionalOnMissingBean
    public WorkqueuesLifecycle workqueuesLifecycle(Workqueues workqueues, Environment environment) {
        Duration timeout = Binder.get(environment).bind("spring.lifecycle.timeout-per-shutdown-phase", Duration.class)
                .orElse(Duration.ofSeconds(30));
        return new WorkqueuesLifecycle(workqueues, timeout);
    }

    @Bean
    @ConditionalOnMissingBean
    @Role(BeanDefinition.ROLE_INFRASTRUCTURE)
    public static WorkItemAnnotationBeanPostProcessor workItemAnnotationBeanPostProcessor(Environment environment) {
        WorkItemAnnotationBeanPostProcessor bpp = new WorkItemAnnotationBeanPostProcessor();
        bpp.setProxyTargetClass(environment.getProperty("spring.aop.proxy-target-class", Boolean.class, true));
        return bpp;
    }

    /**
     * Opt-in: {@code workqueue.task-executor.queue} names the queue that becomes the application's
     * task executor, and {@code @Async}'s executor (through an {@link AsyncConfigurer}, as Spring
     * Boot does for its own, so that a scheduler's executor bean doesn't make the choice ambiguous).
     */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnProperty("workqueue.task-executor.queue")
    static class TaskExecutorConfiguration {

        @Bean(name = TaskExecutionAutoConfiguration.APPLICATION_TASK_EXECUTOR_BEAN_NAME)
        WorkqueueTaskExecutor applicationTaskExecutor(Workqueues workqueues, WorkqueueProperties properties) {
            String name = properties.getTaskExecutor().getQueue();
            return new WorkqueueTaskExecutor(workqueues.workqueue(name).orElseThrow(() -> new InvalidWorkqueueConfigurationException(
                    "workqueue.task-executor.queue", name, "no workqueue is named '" + name + "'",
                    "a system queue (system_wq, system_unbound_wq, ...) or a queue under workqueue.queues")));
        }

        @Bean
        @ConditionalOnMissingBean(AsyncConfigurer.class)
        AsyncConfigurer workqueueAsyncConfigurer(BeanFactory beanFactory) {
            return new AsyncConfigurer() {
                @Override
                public Executor getAsyncExecutor() {
                    return beanFactory.getBean(TaskExecutionAutoConfiguration.APPLICATION_TASK_EXECUTOR_BEAN_NAME, Executor.class);
                }
            };
        }
    }
}
