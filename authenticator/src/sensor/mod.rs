//! Palm sensors: the `PalmSensor` trait and the simulated sensor (issue: palm UV).
