//! A network of hub processes on 127.0.0.1 (the `smart` binary itself, in
//! `run` mode), for the commit benchmark and, later, `smart testnet`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use libp2p::Multiaddr;
use smart_ledger::Keypair;

use crate::client::Client;

/// Hub processes started from one init folder.
#[derive(Debug)]
pub struct LocalHubs {
    /// The init folder.
    pub dir: PathBuf,
    /// Hub folder names.
    pub names: Vec<String>,
    /// Their addresses (with /p2p/).
    pub addrs: Vec<Multiaddr>,
    /// Station nodes started with [`LocalHubs::start_stations`]: (name, address).
    pub stations: Vec<(String, Multiaddr)>,
    children: Vec<Child>,
    /// Station processes, by index in `stations` (`None` while stopped).
    station_children: Vec<Option<Child>>,
}

fn spawn_hub(exe: &Path, data: &Path, bootstrap: &[Multiaddr]) -> Result<(Child, Multiaddr)> {
    let mut cmd = Command::new(exe);
    cmd.args(["run", "--data"])
        .arg(data)
        .args(["--listen", "/ip4/127.0.0.1/tcp/0"]);
    if !bootstrap.is_empty() {
        cmd.arg("--bootstrap")
            .args(bootstrap.iter().map(|a| a.to_string()));
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let out = child.stdout.take().context("hub stdout")?;
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .with_context(|| format!("hub said {line:?}"))?
        .parse()?;
    Ok((child, addr))
}

impl LocalHubs {
    /// `smart init` in `dir` and starts every hub (the first one last, with
    /// every other hub's address, so it can make the first membership).
    pub fn start(dir: &Path, hubs: usize, nodes: usize) -> Result<LocalHubs> {
        crate::init::create(dir, hubs, nodes, "smart-localnet")?;
        let exe = std::env::current_exe()?;
        let names: Vec<String> = (0..hubs).map(crate::init::hub_name).collect();
        let mut children = Vec::new();
        let mut addrs = vec![None; hubs];
        for i in 1..hubs {
            let (c, a) = spawn_hub(&exe, &dir.join(&names[i]), &[])?;
            children.push(c);
            addrs[i] = Some(a);
        }
        let others: Vec<Multiaddr> = addrs.iter().flatten().cloned().collect();
        let (c, a) = spawn_hub(&exe, &dir.join(&names[0]), &others)?;
        children.insert(0, c);
        addrs[0] = Some(a);
        Ok(LocalHubs {
            dir: dir.to_path_buf(),
            names,
            addrs: addrs.into_iter().flatten().collect(),
            stations: Vec::new(),
            children,
            station_children: Vec::new(),
        })
    }

    /// Starts station nodes (folders `station-1..=n`), each following the hubs.
    pub fn start_stations(&mut self, n: usize) -> Result<()> {
        let exe = std::env::current_exe()?;
        for i in 1..=n {
            let name = format!("station-{i}");
            let (c, a) = spawn_hub(&exe, &self.dir.join(&name), &self.addrs)?;
            self.station_children.push(Some(c));
            self.stations.push((name, a));
        }
        Ok(())
    }

    /// Starts the gateway (folder `gateway`) following the hubs, serving
    /// HTTPS on a free 127.0.0.1 port; returns that address.
    pub fn start_gateway(&mut self, extra: &[&str]) -> Result<std::net::SocketAddr> {
        let exe = std::env::current_exe()?;
        let mut cmd = Command::new(exe);
        cmd.args(["run", "--data"])
            .arg(self.dir.join("gateway"))
            .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--https", "127.0.0.1:0"])
            .args(extra)
            .arg("--bootstrap")
            .args(self.addrs.iter().map(|a| a.to_string()));
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the gateway")?;
        let out = child.stdout.take().context("gateway stdout")?;
        let mut reader = BufReader::new(out);
        let mut https = None;
        for _ in 0..2 {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            if let Some(url) = line.trim().strip_prefix("https https://") {
                https = Some(url.trim_end_matches('/').parse()?);
            }
        }
        self.children.push(child);
        https.context("the gateway did not say where it serves HTTPS")
    }

    /// Stops station `i` (index in `stations`) with SIGTERM and waits for it.
    pub fn stop_station(&mut self, i: usize) {
        if let Some(mut c) = self.station_children.get_mut(i).and_then(Option::take) {
            terminate(&mut c);
        }
    }

    /// Starts station `i` again from its folder; its address is updated.
    pub fn restart_station(&mut self, i: usize) -> Result<()> {
        self.stop_station(i);
        let name = self.stations.get(i).context("no such station")?.0.clone();
        let (c, a) = spawn_hub(
            &std::env::current_exe()?,
            &self.dir.join(&name),
            &self.addrs,
        )?;
        self.station_children[i] = Some(c);
        self.stations[i].1 = a;
        Ok(())
    }

    /// Waits until a hub reports a leader.
    pub async fn wait_leader(&self, key: &Keypair, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        let clients = self.clients(key).await?;
        loop {
            for c in &clients {
                if let Ok(s) = c.status().await
                    && s.leader.is_some()
                {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("no leader within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One client per hub.
    pub async fn clients(&self, key: &Keypair) -> Result<Vec<Client>> {
        let mut out = Vec::new();
        for a in &self.addrs {
            out.push(Client::connect(key, a.clone()).await?);
        }
        Ok(out)
    }

    /// Stops every hub with SIGTERM and waits for it.
    pub fn stop(&mut self) {
        let mut all: Vec<Child> = self
            .station_children
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        all.append(&mut self.children);
        for c in &all {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
        }
        for mut c in all {
            let _ = c.wait();
        }
    }
}

fn terminate(c: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &c.id().to_string()])
        .status();
    let _ = c.wait();
}

impl Drop for LocalHubs {
    fn drop(&mut self) {
        let stations = self.station_children.iter_mut().filter_map(Option::as_mut);
        for c in self.children.iter_mut().chain(stations) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
