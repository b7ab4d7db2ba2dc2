package dev.cmwq.workqueue.spring;

import dev.cmwq.workqueue.Workqueues;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Map;
import org.springframework.aop.framework.Advised;
import org.springframework.aop.framework.autoproxy.AbstractBeanFactoryAwareAdvisingPostProcessor;
import org.springframework.aop.support.AopUtils;
import org.springframework.aop.support.DefaultPointcutAdvisor;
import org.springframework.aop.support.annotation.AnnotationMatchingPointcut;
import org.springframework.beans.factory.BeanFactory;
import org.springframework.beans.factory.config.ConfigurableBeanFactory;
import org.springframework.core.MethodIntrospector;
import org.springframework.core.annotation.AnnotatedElementUtils;
import org.springframework.core.annotation.AnnotationUtils;
import org.springframework.util.ClassUtils;

/**
 * Proxies beans with {@link WorkItem} methods (interface or class proxies; an existing proxy of
 * the bean gets the advisor added, in front of its other advice, as {@code @Async} does) and
 * checks every declaration when the bean is created, so a bad one stops the start.
 */
public class WorkItemAnnotationBeanPostProcessor extends AbstractBeanFactoryAwareAdvisingPostProcessor {

    private WorkItemInterceptor interceptor;

    public WorkItemAnnotationBeanPostProcessor() {
        setBeforeExistingAdvisors(true);
    }

    @Override
    public void setBeanFactory(BeanFactory beanFactory) {
        super.setBeanFactory(beanFactory);
        ConfigurableBeanFactory cbf = beanFactory instanceof ConfigurableBeanFactory c ? c : null;
        this.interceptor = new WorkItemInterceptor(() -> beanFactory.getBean(Workqueues.class),
                cbf != null ? cbf::resolveEmbeddedValue : null);
        this.advisor = new DefaultPointcutAdvisor(new AnnotationMatchingPointcut(null, WorkItem.class, true), interceptor);
    }

    @Override
    public Object postProcessAfterInitialization(Object bean, String beanName) {
        Class<?> targetClass = AopUtils.getTargetClass(bean);
        if (!AnnotationUtils.isCandidateClass(targetClass, WorkItem.class)) {
            return bean; // e.g. java.* classes: can't carry the annotation
        }
        Map<Method, WorkItem> declared = MethodIntrospector.selectMethods(targetClass,
                (MethodIntrospector.MetadataLookup<WorkItem>) m -> AnnotatedElementUtils.findMergedAnnotation(m, WorkItem.class));
        boolean classProxy = !declared.isEmpty() && (isProxyTargetClass()
                || ClassUtils.getAllInterfacesForClass(targetClass).length == 0);
        if (classProxy && Modifier.isFinal(targetClass.getModifiers()) && !(bean instanceof Advised)) {
            throw new InvalidWorkqueueConfigurationException(targetClass.getName(), "final class",
                    "its @WorkItem methods need a class proxy, which can't subclass a final class (records are final)",
                    "a non-final class, or the methods on an interface with spring.aop.proxy-target-class=false");
        }
        for (Method m : declared.keySet()) {
            Method specific = AopUtils.getMostSpecificMethod(m, targetClass);
            if (classProxy && Modifier.isFinal(specific.getModifiers()) && !(bean instanceof Advised)) {
                throw new InvalidWorkqueueConfigurationException(WorkItemInterceptor.describe(specific),
                        Modifier.toString(specific.getModifiers()),
                        "a class proxy can't intercept a final method, so calls would run at once in the caller",
                        "a non-final instance method, or the method on an interface with spring.aop.proxy-target-class=false");
            }
            interceptor.spec(specific);
        }
        return super.postProcessAfterInitialization(bean, beanName);
    }

    WorkItemInterceptor interceptor() {
        return interceptor;
    }
}
