//! Embeds the built dashboard, GraphiQL and the REST reference (`dashboard/dist`, committed by the frontend
//! build) into the binary, brotli-compressed, so `cargo build` never needs Node and the
//! server needs no files beside itself. Served by `src/http/assets.rs`.

fn main() {
    // SAFETY: the build script is single-threaded; nothing else reads the environment now.
    // Without it every build lists each embedded file as a warning.
    unsafe { std::env::set_var("MEMORY_SERVE_QUIET", "1") };
    memory_serve::load_names_directories(
        [
            ("dashboard", "dashboard/dist/app"),
            ("graphiql", "dashboard/dist/graphiql"),
            ("docs", "dashboard/dist/docs"),
        ],
        true,
    );
}
