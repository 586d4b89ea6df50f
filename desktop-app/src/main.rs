fn main() {
    palmkey_desktop::run();
}
