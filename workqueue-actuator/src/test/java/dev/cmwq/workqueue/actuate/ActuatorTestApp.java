package dev.cmwq.workqueue.actuate;

import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Bean;
import org.springframework.security.config.Customizer;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.core.userdetails.User;
import org.springframework.security.core.userdetails.UserDetailsService;
import org.springframework.security.provisioning.InMemoryUserDetailsManager;
import org.springframework.security.web.SecurityFilterChain;
import org.springframework.http.HttpMethod;

/**
 * The application the actuator tests run: reads of the actuator are open, writes need HTTP basic
 * authentication as a user with role OPS ({@code ops}/{@code ops-secret}); {@code viewer} has no
 * such role.
 */
@SpringBootApplication
public class ActuatorTestApp {

    @Bean
    SecurityFilterChain actuatorSecurity(HttpSecurity http) throws Exception {
        http.authorizeHttpRequests(a -> a
                        .requestMatchers(HttpMethod.POST, "/actuator/**").hasRole("OPS")
                        .anyRequest().permitAll())
                .httpBasic(Customizer.withDefaults())
                .csrf(c -> c.ignoringRequestMatchers("/actuator/**"));
        return http.build();
    }

    @Bean
    UserDetailsService users() {
        return new InMemoryUserDetailsManager(
                User.withUsername("ops").password("{noop}ops-secret").roles("OPS").build(),
                User.withUsername("viewer").password("{noop}viewer-secret").roles("VIEWER").build());
    }
}
