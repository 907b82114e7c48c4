"""The client dashboard in headless Chromium (driven by the gateway test).

Usage: dashboard.py URL CREDENTIAL NEW_JOB SCREENSHOT

Loads the dashboard, signs in with the credential, waits until the live
event stream is connected, prints READY (the test then opens NEW_JOB for
this client in the ledger), waits for NEW_JOB to appear without reloading,
saves a screenshot and prints DONE. Exits non-zero on any failure.
"""

import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait


def main() -> int:
    url, credential, new_job, screenshot = sys.argv[1:5]
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--ignore-certificate-errors"):
        options.add_argument(arg)
    options.set_capability("acceptInsecureCerts", True)
    for binary in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(binary):
            options.binary_location = binary
            break
    service = None
    if os.path.exists("/usr/bin/chromedriver"):
        service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    try:
        wait = WebDriverWait(driver, 30)
        driver.get(url)
        wait.until(ec.visibility_of_element_located((By.ID, "credential")))
        driver.find_element(By.ID, "credential").send_keys(credential)
        driver.find_element(By.ID, "signin").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "live"), "live"))
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-job]")))
        before = driver.execute_script("return window.performance.timeOrigin")
        print("READY", flush=True)
        selector = '[data-job="%s"]' % new_job
        WebDriverWait(driver, 30).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, selector)))
        after = driver.execute_script("return window.performance.timeOrigin")
        if before != after:
            print("the page was reloaded", flush=True)
            return 1
        time.sleep(0.3)
        driver.save_screenshot(screenshot)
        print("DONE", flush=True)
        return 0
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
