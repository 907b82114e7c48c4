"""The station kiosk in headless Chromium (driven by node/tests/station.rs).

Usage: kiosk.py URL BADGE_FILE JOB STEP SCREENSHOT

Loads the kiosk, badges in by typing the badge, selects JOB on the page,
waits until STEP shows LOCKED (the part is not scanned yet) and prints
READY. The test then scans the part through the kiosk's API; the page
must show STEP UNLOCKED without a reload. The script then presses the
step's "perform" button and waits for the interlock light to turn
UNLOCKED (the contract unlocked the station), saves a screenshot and
prints DONE. Exits non-zero on any failure.
"""

import os
import sys

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from selenium.webdriver.support.select import Select


def main() -> int:
    url, badge_file, job, step, screenshot = sys.argv[1:6]
    badge = open(badge_file).read().strip()
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1280,1400"):
        options.add_argument(arg)
    for binary in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(binary):
            options.binary_location = binary
            break
    service = None
    if os.path.exists("/usr/bin/chromedriver"):
        service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    try:
        # The page reloads itself when the job on the bench changes: an
        # element may go stale under us, so look again until it holds.
        wait = WebDriverWait(driver, 40, ignored_exceptions=(
            NoSuchElementException, StaleElementReferenceException))

        def act(f):
            def attempt(d):
                f(d)
                return True
            wait.until(attempt)

        driver.get(url)
        wait.until(lambda d: d.find_element(By.ID, "badge"))
        act(lambda d: d.find_element(By.ID, "badge").send_keys(badge))
        act(lambda d: d.find_element(By.ID, "badge-in").click())
        wait.until(lambda d: d.find_element(By.ID, "operator").text not in ("", "—"))
        wait.until(lambda d: job in [o.get_attribute("value") for o in
                                     d.find_element(By.ID, "jobs").find_elements(By.TAG_NAME, "option")])
        act(lambda d: Select(d.find_element(By.ID, "jobs")).select_by_value(job))
        act(lambda d: d.find_element(By.ID, "select-job").click())
        # The page reloads with the job's steps, generated from its pinned contract.
        wait.until(lambda d: d.find_elements(By.ID, "status-" + step))
        wait.until(lambda d: d.find_element(By.ID, "status-" + step).text == "LOCKED")
        why = wait.until(lambda d: d.find_element(By.ID, "why-" + step).text)
        print("READY", flush=True)
        print("WHY " + why, flush=True)
        wait.until(lambda d: d.find_element(By.ID, "status-" + step).text == "UNLOCKED")
        if driver.find_element(By.ID, "interlock").text != "LOCKED":
            print("the interlock was unlocked before the step", flush=True)
            return 1
        act(lambda d: d.find_element(By.ID, "do-" + step).click())
        wait.until(lambda d: d.find_element(By.ID, "status-" + step).text == "DONE")
        wait.until(lambda d: d.find_element(By.ID, "interlock").text == "UNLOCKED")
        driver.save_screenshot(screenshot)
        print("DONE", flush=True)
        return 0
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
