//! `smart`: one binary for every SMART peer role and the operator CLI.
//! Everything lives in the `smart_node` library; see its layout.

fn main() -> std::process::ExitCode {
    smart_node::cli::main()
}
