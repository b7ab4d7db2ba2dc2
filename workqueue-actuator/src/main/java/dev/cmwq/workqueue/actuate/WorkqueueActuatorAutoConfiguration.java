package dev.cmwq.workqueue.actuate;

import dev.cmwq.workqueue.Workqueues;
import dev.cmwq.workqueue.spring.WorkqueueAutoConfiguration;
import io.micrometer.core.instrument.MeterRegistry;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.actuate.autoconfigure.endpoint.condition.ConditionalOnAvailableEndpoint;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The engine's actuator parts: the {@code workqueues} endpoint, the {@code workqueues} health
 * contributor (with stall events), and the meters.
 */
@AutoConfiguration(after = WorkqueueAutoConfiguration.class)
@ConditionalOnBean(Workqueues.class)
public class WorkqueueActuatorAutoConfiguration {

    @Bean
    @ConditionalOnMissingBean
    @ConditionalOnAvailableEndpoint
    public WorkqueuesEndpoint workqueuesEndpoint(Workqueues workqueues) {
        return new WorkqueuesEndpoint(workqueues);
    }

    @Bean
    @ConditionalOnMissingBean
    @ConditionalOnEnabledHealthIndicator("workqueues")
    public WorkqueuesHealthIndicator workqueuesHealthIndicator(Workqueues workqueues, ApplicationEventPublisher events) {
        return new WorkqueuesHealthIndicator(workqueues, events);
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(MeterRegistry.class)
    static class MetricsConfiguration {

        @Bean
        @ConditionalOnMissingBean
        WorkqueueMetrics workqueueMetrics(Workqueues workqueues, ObjectProvider<WorkqueuesHealthIndicator> health) {
            return new WorkqueueMetrics(workqueues, health.getIfAvailable());
        }
    }
}
