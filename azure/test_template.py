"""azure/main.json, held to what the plan asks of it (`python3 -m unittest discover -s azure`): no Bicep or ARM
deployment can run here, so the template is checked as data: every function of the repository has its app, set up as a
custom handler on the Linux consumption plan, reading its secrets through Key Vault references it may resolve; the
budget notifies at $100, $300 and $500; alerts reach the operators; every resource that takes tags has the plan's."""

import json
import re
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = json.loads((ROOT / "azure/main.json").read_text())
RESOURCES = TEMPLATE["resources"]
# Extension resources, and an Event Hubs namespace's children, take no tags.
UNTAGGED = {
    "Microsoft.Consumption/budgets",
    "Microsoft.Authorization/roleAssignments",
    "Microsoft.EventHub/namespaces/eventhubs",
    "Microsoft.EventHub/namespaces/eventhubs/authorizationRules",
}
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"


def of_type(kind):
    return [resource for resource in RESOURCES if resource["type"] == kind]


def settings(app):
    return {setting["name"]: setting["value"] for setting in app["properties"]["siteConfig"]["appSettings"]}


def expressions(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from expressions(item)


class AzureTemplate(unittest.TestCase):
    def test_every_function_has_a_custom_handler_app_on_the_linux_consumption_plan(self):
        functions = {path.name for path in (ROOT / "functions").iterdir() if path.is_dir()}
        apps = {re.search(r"-([a-z-]+)'", app["name"]).group(1): app for app in of_type("Microsoft.Web/sites")}
        self.assertEqual(set(apps), functions)
        (plan,) = of_type("Microsoft.Web/serverfarms")
        self.assertEqual((plan["sku"]["name"], plan["kind"], plan["properties"]["reserved"]), ("Y1", "functionapp,linux", True))
        for name, app in apps.items():
            values = settings(app)
            self.assertEqual(values["FUNCTIONS_WORKER_RUNTIME"], "custom", name)
            self.assertIn("APPLICATIONINSIGHTS_CONNECTION_STRING", values, name)
            self.assertTrue(app["properties"]["httpsOnly"], name)
            self.assertEqual(app["identity"]["type"], "SystemAssigned", name)

    def test_secrets_are_key_vault_references_the_apps_may_resolve(self):
        for app in of_type("Microsoft.Web/sites"):
            for name in ("DATABASE_URL", "SUPABASE_JWT_SECRET", "AZURE_OPENAI_KEY"):
                value = settings(app).get(name)
                if value is not None:
                    self.assertIn("@Microsoft.KeyVault(VaultName=", value, f"{app['name']} {name}")
        grants = of_type("Microsoft.Authorization/roleAssignments")
        self.assertEqual(len(grants), len(of_type("Microsoft.Web/sites")))
        for grant in grants:
            self.assertTrue(grant["properties"]["roleDefinitionId"].endswith(f"'{KEY_VAULT_SECRETS_USER}')]"))
            self.assertIn("Microsoft.KeyVault/vaults", grant["scope"])
        public = [app for app in of_type("Microsoft.Web/sites") if "judge" not in app["name"]]
        self.assertTrue(all("DATABASE_URL" in settings(app) for app in public), "the public functions keep state")

    def test_the_event_stream_is_a_standard_hub_with_a_send_and_a_listen_policy_the_processor_reads(self):
        (namespace,) = of_type("Microsoft.EventHub/namespaces")
        self.assertEqual(namespace["sku"]["tier"], "Standard", "Basic has no Kafka endpoint")
        self.assertTrue(namespace["properties"]["kafkaEnabled"])
        (hub,) = of_type("Microsoft.EventHub/namespaces/eventhubs")
        self.assertIn("variables('eventHub')", hub["name"])
        rules = {re.search(r"\{1\}/([a-z-]+)'", rule["name"]).group(1): rule["properties"]["rights"]
                 for rule in of_type("Microsoft.EventHub/namespaces/eventhubs/authorizationRules")}
        self.assertEqual(rules, {"edge-send": ["Send"], "processor-listen": ["Listen"]}, "least privilege for each side")
        stream = [namespace, hub, *of_type("Microsoft.EventHub/namespaces/eventhubs/authorizationRules")]
        self.assertTrue(all(resource["condition"] == "[parameters('eventStream')]" for resource in stream))
        (processor,) = [app for app in of_type("Microsoft.Web/sites") if "analytics-processor" in app["name"]]
        values = settings(processor)
        self.assertIn(":9093", values["EVENTHUBS_KAFKA_BOOTSTRAP"])
        self.assertIn("SecretName=eventhubs-listen-connection-string", values["EVENTHUBS_CONNECTION_STRING"])
        (secret,) = [s for s in of_type("Microsoft.KeyVault/vaults/secrets") if "eventhubs-listen" in s["name"]]
        self.assertIn("'processor-listen'", secret["properties"]["value"])
        self.assertNotIn("edge-send", json.dumps(TEMPLATE["outputs"]), "no send key in the outputs")

    def test_the_budget_notifies_at_100_300_and_500_dollars(self):
        (budget,) = of_type("Microsoft.Consumption/budgets")
        amount = budget["properties"]["amount"]
        notified = sorted(amount * rule["threshold"] / 100 for rule in budget["properties"]["notifications"].values())
        self.assertEqual(notified, [100, 300, 500])
        self.assertEqual(budget["properties"]["timeGrain"], "Monthly")

    def test_alerts_reach_the_operators(self):
        (group,) = of_type("Microsoft.Insights/actionGroups")
        self.assertEqual(group["properties"]["emailReceivers"][0]["emailAddress"], "[parameters('alarmEmail')]")
        alerts = of_type("Microsoft.Insights/metricAlerts")
        self.assertGreaterEqual(len(alerts), 3)
        for alert in alerts:
            self.assertEqual(alert["properties"]["actions"][0]["actionGroupId"].count("actionGroupName"), 1)

    def test_every_resource_that_takes_tags_has_the_plans(self):
        self.assertEqual(set(TEMPLATE["variables"]["tags"]), {"Project", "Environment", "CostCenter", "Owner"})
        for resource in RESOURCES:
            if resource["type"] not in UNTAGGED:
                self.assertEqual(resource.get("tags"), "[variables('tags')]", resource["name"])

    def test_expressions_are_well_formed(self):
        for value in expressions(TEMPLATE):
            if value.startswith("["):
                self.assertTrue(value.endswith("]"), value)
                self.assertEqual(value.count("("), value.count(")"), value)
                for name in re.findall(r"parameters\('(\w+)'\)", value):
                    self.assertIn(name, TEMPLATE["parameters"], value)
                for name in re.findall(r"variables\('(\w+)'\)", value):
                    self.assertIn(name, TEMPLATE["variables"], value)


if __name__ == "__main__":
    unittest.main()
