//! Host-side CTAP2 client over CTAPHID (hidapi for real devices, UDP for the simulator).
