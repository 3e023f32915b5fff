-- Error rate (events with status >= 400) per host and day.
SELECT dt,
       host,
       events,
       errors,
       client_errors,
       server_errors,
       round(error_rate, 4) AS error_rate
FROM error_rates_daily
ORDER BY dt, host;
