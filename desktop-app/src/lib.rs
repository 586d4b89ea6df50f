//! palmkey desktop companion (Tauri 2).
pub fn run() {
    tauri::Builder::default()
        .run(tauri::generate_context!())
        .expect("tauri app");
}
