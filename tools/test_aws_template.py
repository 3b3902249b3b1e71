"""template.yaml's monitoring held to what operations need (`make test`, with the venv's PyYAML): every function has
its alarms on errors, throttles and duration, every alarm tells the operators' topic, the dashboard shows every
function, and every resource that takes tags has the plan's four. (`sam validate --lint` in `make lint` checks that
the template is valid; this checks that it says what we mean.)"""

import unittest
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TAG_KEYS = {"Project", "Environment", "CostCenter", "Owner"}


class CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (`!Ref X`) as the long form (`{"Ref": X}`)."""


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _intrinsic)
TEMPLATE = yaml.load((ROOT / "template.yaml").read_text(), Loader=CloudFormationLoader)
RESOURCES = TEMPLATE["Resources"]


def of_type(kind):
    return {name: resource for name, resource in RESOURCES.items() if resource["Type"] == kind}


class AwsTemplate(unittest.TestCase):
    def test_the_processor_reads_the_event_stream_only_when_its_secret_is_named(self):
        variables = RESOURCES["AnalyticsProcessorFunction"]["Properties"]["Environment"]["Variables"]
        for name, key in (("EVENTHUBS_KAFKA_BOOTSTRAP", "bootstrap"), ("EVENTHUBS_CONNECTION_STRING", "connection_string")):
            condition, resolved, otherwise = variables[name]["Fn::If"]
            self.assertEqual(condition, "HasStream", name)
            self.assertIn("${StreamSecretName}:SecretString:" + key, resolved["Fn::Sub"], name)
            self.assertEqual(otherwise, {"Ref": "AWS::NoValue"}, name)
        others = [name for name, function in of_type("AWS::Serverless::Function").items()
                  if "EVENTHUBS_CONNECTION_STRING" in function["Properties"].get("Environment", {}).get("Variables", {})]
        self.assertEqual(others, ["AnalyticsProcessorFunction"], "only the processor holds the listen key")

    def test_every_function_has_its_alarms(self):
        alarms = of_type("AWS::CloudWatch::Alarm").values()
        watched = {}
        for alarm in alarms:
            properties = alarm["Properties"]
            for dimension in properties.get("Dimensions", []):
                if dimension["Name"] == "FunctionName":
                    watched.setdefault(dimension["Value"]["Ref"], set()).add(properties["MetricName"])
        for function in of_type("AWS::Serverless::Function"):
            self.assertEqual(watched.get(function), {"Errors", "Throttles", "Duration"}, function)

    def test_every_alarm_tells_the_operators(self):
        topics = of_type("AWS::SNS::Topic")
        self.assertEqual(list(topics), ["AlarmTopic"])
        self.assertEqual(topics["AlarmTopic"]["Properties"]["Subscription"][0]["Endpoint"], {"Ref": "AlarmEmail"})
        for name, alarm in of_type("AWS::CloudWatch::Alarm").items():
            self.assertEqual(alarm["Properties"]["AlarmActions"], [{"Ref": "AlarmTopic"}], name)

    def test_the_dashboard_shows_every_function(self):
        (dashboard,) = of_type("AWS::CloudWatch::Dashboard").values()
        body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
        for function in of_type("AWS::Serverless::Function"):
            self.assertIn("${%s}" % function, body)

    def test_every_resource_that_takes_tags_has_the_plans(self):
        for section in ("Function", "HttpApi"):
            self.assertEqual(set(TEMPLATE["Globals"][section]["Tags"]), TAG_KEYS, section)
        for kind in ("AWS::Logs::LogGroup", "AWS::CloudWatch::Alarm", "AWS::SNS::Topic"):
            for name, resource in of_type(kind).items():
                keys = {tag["Key"] for tag in resource["Properties"]["Tags"]}
                self.assertEqual(keys, TAG_KEYS, name)


if __name__ == "__main__":
    unittest.main()
