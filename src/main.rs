//! `coffer serve`: parse the configuration, open the stores, migrate, serve.

use clap::Parser;
use coffer::config::{Cli, Command, Config, TokenArgs};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(config) => serve(*config).await,
        Command::Token(args) => token(args),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coffer: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(mut config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    // With port 0 the OS picks one; absolute URLs must name the real port.
    config.listen = listener.local_addr()?;
    let app = coffer::build(&config).await?;
    let base = config.base_url();
    if app.generated_secrets {
        println!(
            "Coffer generated its secrets in {}/secrets.json:",
            config.data_dir.display()
        );
        println!("  API key (admin): {}", app.secrets.api_key);
        println!("  anon key:        {}", app.secrets.anon_key);
        println!("Try it:");
        println!(
            "  curl -H 'Authorization: Bearer {}' {base}/api/storage/buckets",
            app.secrets.api_key
        );
    }
    println!(
        "coffer listening on http://{} (public base URL {base})",
        config.listen
    );
    let _lock = app.lock;
    coffer::serve(listener, app.router).await?;
    Ok(())
}

fn token(args: TokenArgs) -> anyhow::Result<()> {
    // The server refuses any other role, so refuse to mint one.
    if !["authenticated", "project_admin", "anon"].contains(&args.role.as_str()) {
        anyhow::bail!(
            "unknown role {:?}: use authenticated, project_admin or anon",
            args.role
        );
    }
    let (secrets, _) = coffer::auth::Secrets::load_or_generate(
        &args.data_dir,
        args.jwt_secret.as_deref(),
        None,
        None,
    )?;
    let keys = coffer::auth::Keys::new(&secrets);
    println!("{}", keys.mint(&args.sub, &args.role, args.ttl));
    Ok(())
}
